"""Retention (docs/operations.md, "Retention"): with a retention of 1 day and rows back-dated, one run
purges them, keeps the last event that explains a credit the user still has, and changes no count.
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from backend.apps import app_settings
from backend.config import load_config
from backend.extensions import db
from backend.models import ConsentEvent, IdempotencyRecord, Message, RetentionCount, WebhookEvent, utcnow
from backend.ops import retention
from backend.settings import ConfigError
from tests.conftest import app_config, running_app
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, TEST_DATA_KEY, accept, log_in, send
from tests.test_apps import APPS_FILE, A, B, serving_two_apps, write

T1 = ONE_TIME["priTmplId"]
ONE_DAY = {"RETAIN_MESSAGE_VALUES_DAYS": 1, "RETAIN_EVENTS_DAYS": 1, "RETAIN_WEBHOOK_EVENTS_DAYS": 1}
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-password").decode()}


@pytest.fixture
def short_app(database_url, emulator):
    with running_app(app_config(database_url, emulator.url, ADMIN_PASSWORD="admin-password", **ONE_DAY)) as app:
        yield app


def back_date(app, days: float) -> None:
    """Every row of the tables retention reads, made `days` older."""
    ago = utcnow() - timedelta(days=days)
    with app.app_context():
        for model in (ConsentEvent, Message, IdempotencyRecord, WebhookEvent):
            db.session.execute(sa.update(model.__table__).values(created_at=ago))
        db.session.commit()
        db.session.remove()


def add_webhook_events(app, status: str, count: int) -> None:
    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.insert(WebhookEvent),
            [
                {
                    "id": f"evt_{uuid.uuid4().hex}",
                    "type": "message.sent",
                    "app": app.extensions["apps"].only().appid,
                    "payload": {"data": {"openid": "o-someone"}},
                    "status": status,
                    "attempts": 1,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for _ in range(count)
            ],
        )
        db.session.commit()
        db.session.remove()


def rows(app, model, *where) -> list:
    with app.app_context():
        found = db.session.scalars(sa.select(model).where(*where).order_by(model.__table__.primary_key.columns[0]))
        result = list(found)
        db.session.remove()
    return result


def test_one_run_purges_old_rows_and_keeps_the_event_behind_a_current_credit(short_app, emulator, templates):
    client = short_app.test_client()
    keeper, spender = log_in(client, emulator), log_in(client, emulator)
    accept(client, emulator, keeper, times=3)  # 3 credits: one spent below, 2 left
    accept(client, emulator, spender)  # 1 credit, spent below: nothing left to explain
    for user in (keeper, spender):
        body = {"user_id": user.id, "template_id": T1, "data": GOOD_DATA}
        assert send(client, body, **{"Idempotency-Key": f"k-{user.id}"}).status_code == 201
    add_webhook_events(short_app, "delivered", 3)
    add_webhook_events(short_app, "pending", 2)
    keeper_grants = rows(short_app, ConsentEvent, ConsentEvent.user_id == keeper.id, ConsentEvent.credits_delta > 0)
    before_user = client.get(f"/api/v1/users/{keeper.id}", headers=API_KEY).json
    before_dashboard = client.get("/admin/api/dashboard", query_string={"days": 30}, headers=ADMIN).json
    back_date(short_app, 2)
    # A message sent after the back-dating keeps its values.
    accept(client, emulator, spender)
    fresh = send(client, {"user_id": spender.id, "template_id": T1, "data": GOOD_DATA}).json["id"]

    result = short_app.test_cli_runner().invoke(args=["wx", "retention", "run"], env={"LC_ALL": "C.UTF-8"})
    assert result.exit_code == 0, result.output

    messages = rows(short_app, Message)
    old = [message for message in messages if message.public_id != fresh]
    assert [message.data for message in old] == [{}, {}]
    assert all(message.data_purged_at and message.status == "sent" and message.sent_at for message in old)
    assert [message.data for message in messages if message.public_id == fresh] == [GOOD_DATA]
    # Of the back-dated events, only the keeper's last grant stays.
    events = rows(short_app, ConsentEvent, ConsentEvent.created_at < utcnow() - timedelta(days=1))
    assert [event.id for event in events] == [keeper_grants[-1].id]
    assert [event.status for event in rows(short_app, WebhookEvent)] == ["pending", "pending"]
    assert len(rows(short_app, IdempotencyRecord)) == 2  # 2 days old: kept 7 days
    assert "message_values: 2 rows purged" in result.output
    assert "webhook_events: 3 rows purged" in result.output
    # Nothing anyone counts changed: the credits left, the dashboard's totals.
    assert client.get(f"/api/v1/users/{keeper.id}", headers=API_KEY).json == before_user
    after_dashboard = client.get("/admin/api/dashboard", query_string={"days": 30}, headers=ADMIN).json
    assert after_dashboard["sends"]["by_outcome"]["sent"] == before_dashboard["sends"]["by_outcome"]["sent"] + 1
    assert after_dashboard["retention"]["message_values"] == 2
    assert after_dashboard["retention"]["webhook_events"] == 3
    metrics = client.get("/metrics").text
    assert 'wxsub_retention_purged_total{kind="webhook_events"}' in metrics
    # A second run has nothing left to do.
    again = short_app.test_cli_runner().invoke(args=["wx", "retention", "run"], env={"LANG": "zh_CN.UTF-8"})
    assert "message_values：清除 0 行" in again.output and "consent_events：清除 0 行" in again.output


def test_idempotency_records_are_kept_7_days(short_app, emulator, templates):
    client = short_app.test_client()
    user = log_in(client, emulator)
    accept(client, emulator, user)
    body = {"user_id": user.id, "template_id": T1, "data": GOOD_DATA}
    assert send(client, body, **{"Idempotency-Key": "kept"}).status_code == 201
    back_date(short_app, 6)
    with short_app.app_context():
        assert retention.purge()["idempotency"] == 0
    back_date(short_app, 8)
    with short_app.app_context():
        assert retention.purge()["idempotency"] == 1


def test_a_purge_goes_in_batches(short_app, emulator, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    add_webhook_events(short_app, "delivered", 5)
    back_date(short_app, 2)
    statements = []
    with short_app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        assert retention.purge()["webhook_events"] == 5
        db.session.remove()
    deletes = [statement for statement in statements if statement.lstrip().upper().startswith("DELETE FROM WEBHOOK")]
    assert len(deletes) == 3  # 2 + 2 + 1


def test_a_slow_batch_makes_the_next_one_smaller_and_a_quick_one_larger():
    assert retention.next_size(1000, 0.2) == 500
    assert retention.next_size(60, 0.2) == retention.MIN_BATCH
    assert retention.next_size(500, 0.001) == 1000
    assert retention.next_size(1000, 0.001) == 1000
    assert retention.next_size(400, 0.03) == 400


def test_one_process_at_a_time_purges(short_app):
    with short_app.app_context():
        assert retention.claim_run(3600)
        assert not retention.claim_run(3600)  # another process, or the same one too soon
        assert retention.claim_run(3600, now=utcnow() + timedelta(hours=2))
        db.session.remove()


def test_an_app_of_the_file_keeps_for_its_own_period(tmp_path):
    text = f"""
[[app]]
appid = "{A}"
secret = "s-a"
retain_message_values_days = 30
retain_events_days = 90
[[app]]
appid = "{B}"
secret = "s-b"
"""
    config = load_config({"WX_APPS_FILE": write(tmp_path, text), "SECRET_KEY": "k" * 40, "DATA_KEY": TEST_DATA_KEY})
    apps = {settings.appid: settings for settings in app_settings(config)}
    assert dict(apps[A].retention) == {"RETAIN_MESSAGE_VALUES_DAYS": 30, "RETAIN_EVENTS_DAYS": 90}
    assert dict(apps[B].retention) == {}
    with pytest.raises(ConfigError, match="retain_events_days must be a whole number of days"):
        load_config(
            {
                "WX_APPS_FILE": write(
                    tmp_path, text.replace("retain_events_days = 90", 'retain_events_days = "a year"')
                ),
                "SECRET_KEY": "k" * 40,
                "DATA_KEY": TEST_DATA_KEY,
            }
        )


def test_the_retention_of_each_app_applies_to_its_rows(database_url, emulator, tmp_path):
    """One app keeps values 1 day, the other the global 180: only the first's old message is emptied."""
    text = APPS_FILE.replace('name = "Shop"', 'name = "Shop"\nretain_message_values_days = 1')
    with serving_two_apps(database_url, emulator, tmp_path, text) as app:
        with app.app_context():
            db.session.execute(
                sa.insert(Message),
                [
                    {
                        "app_id": appid,
                        "template_id": T1,
                        "data": GOOD_DATA,
                        "status": "sent",
                        "public_id": f"msg_{appid}",
                    }
                    for appid in (A, B)
                ],
            )
            db.session.commit()
            db.session.remove()
        back_date(app, 2)
        with app.app_context():
            assert retention.purge()["message_values"] == 1
            db.session.remove()
        kept = {message.app_id: message.data for message in rows(app, Message)}
    assert kept == {A: {}, B: GOOD_DATA}


def test_doctor_prints_the_retention_in_force(short_app):
    result = short_app.test_cli_runner().invoke(args=["wx", "doctor"], env={"LC_ALL": "C.UTF-8"})
    [line] = [line for line in result.output.splitlines() if line[5:].startswith("retention")]
    assert line == (
        "ok   retention: RETAIN_MESSAGE_VALUES_DAYS 1 days; RETAIN_EVENTS_DAYS 1 days; "
        "RETAIN_WEBHOOK_EVENTS_DAYS 1 days; idempotency records 7 days"
    )
    with short_app.app_context():
        assert rows(short_app, RetentionCount) == []
