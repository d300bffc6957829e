"""Erase (PIPL art. 47): nothing of the person is left in any table, counts stay, a restore is
erased again with --reapply, and the same openid logging in again is a new person."""

from __future__ import annotations

import json
import shutil

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import WebhookEvent
from backend.ops import stats
from backend.users import sessions
from backend.webhooks import deliver_due
from tests.helpers import API_KEY, GOOD_DATA, assert_error, log_in, send
from tests.privacy.people import T1, a_person, traces_left


@pytest.fixture
def other_process(database_url, emulator, receiver, erasure_log):
    """A second app over the same database: another process, with its own per-process state."""
    from backend import create_app
    from tests.test_webhooks import hooked_config

    other = create_app(hooked_config(database_url, emulator, receiver, ERASURE_LOG=str(erasure_log)))
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def totals(app) -> dict:
    with app.app_context():
        figures = stats.dashboard(7)
    return {name: figures[name] for name in ("consent", "credits", "sends")} | {"unknown": figures["unknown"]["total"]}


def deliver_webhooks(app) -> None:
    while deliver_due(app):
        pass


def test_erase_leaves_no_trace_and_keeps_the_counts(private_app, private, emulator, receiver, templates, erasure_log):
    person, other = a_person(private, emulator, "a"), a_person(private, emulator, "b")
    deliver_webhooks(private_app)
    before = totals(private_app)

    response = private.delete(f"/api/v1/users/{person.user.id}", headers=API_KEY)
    assert response.status_code == 200
    assert set(response.json) == {"id", "erased_at"} and response.json["id"] == person.user.id
    again = private.delete(f"/api/v1/users/{person.user.id}", headers=API_KEY)
    assert again.status_code == 200 and again.json == response.json  # idempotent

    deliver_webhooks(private_app)
    erased_events = [event for event in receiver.events() if event["type"] == "user.erased"]
    assert len(erased_events) == 1  # the second erase emitted nothing
    assert erased_events[0]["data"]["external_id"] == person.external_id
    assert erased_events[0]["data"]["user_id"] == person.user.id

    assert traces_left(private_app, person) == []
    assert traces_left(private_app, other) != []  # the scan finds what is there
    after = totals(private_app)
    sends_before, sends_after = before.pop("sends"), after.pop("sends")
    assert after == before  # consent answers, credits outstanding, unknown messages
    assert sends_after["total"] == sends_before["total"] and sends_after["failed"] == sends_before["failed"]
    # Only the person's scheduled message moved: canceled, as the erase does.
    assert sends_after["by_outcome"] == {**sends_before["by_outcome"], "scheduled": 1, "canceled": 1}

    # The log: one line, keyed hashes and the time, nothing of the person.
    lines = erasure_log.read_text().splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == {"app", "subject", "erased_at"}
    assert not any(trace in lines[0] for trace in person.traces.values())

    # The scheduled message was canceled; the sent one keeps its status, not its values.
    with private_app.app_context():
        statuses = db.session.scalars(
            sa.text("SELECT status FROM messages WHERE user_id = :id ORDER BY id"), {"id": person.user.id}
        ).all()
    assert statuses == ["sent", "canceled"]


def test_after_an_erase_every_form_of_the_person_is_gone(private_app, private, emulator, templates):
    person = a_person(private, emulator, "a")
    with private_app.app_context():
        message_id = db.session.scalar(sa.text("SELECT public_id FROM messages WHERE status = 'sent'"))
    assert private.delete(f"/api/v1/users/{person.user.id}", headers=API_KEY).status_code == 200

    body = {"template_id": T1, "data": GOOD_DATA}
    assert_error(send(private, {**body, "user_id": person.user.id}), 410, "user_erased")
    assert_error(send(private, {**body, "openid": person.user.openid}), 404, "user_not_found")
    assert_error(send(private, {**body, "external_id": person.external_id}), 404, "user_not_found")
    assert_error(send(private, {**body, "phone_number": person.phone}), 404, "user_not_found")
    assert_error(private.get(f"/api/v1/users/{person.user.id}", headers=API_KEY), 410, "user_erased")
    assert_error(private.get(f"/api/v1/messages/{message_id}", headers=API_KEY), 410, "user_erased")
    assert_error(private.get(f"/api/v1/users/{person.user.id}/export", headers=API_KEY), 410, "user_erased")
    bind = private.put(f"/api/v1/users/{person.user.id}/external-id", json={"external_id": "X"}, headers=API_KEY)
    assert_error(bind, 410, "user_erased")
    assert_error(private.get("/api/v1/me", headers=person.user.auth), 401, "unauthorized")

    # The same openid logs in again: a new person, with no credits.
    again = log_in(private, emulator, openid=person.user.openid)
    assert again.id != person.user.id
    subscriptions = private.get("/api/v1/subscriptions", headers=again.auth).json["subscriptions"]
    assert all(subscription["remaining"] == 0 for subscription in subscriptions)
    assert_error(send(private, {**body, "user_id": again.id}), 409, "consent_required")


def test_session_tokens_of_an_erased_user_are_refused_by_other_processes(
    private_app, private, emulator, templates, other_process, monkeypatch
):
    """Another process trusts the token version it read for at most VERSION_TTL seconds."""
    user = log_in(private, emulator)
    other = other_process.test_client()
    now = [1000.0]
    monkeypatch.setattr(sessions, "_clock", lambda: now[0])
    assert other.get("/api/v1/subscriptions", headers=user.auth).status_code == 200  # its version is cached
    assert private.delete("/api/v1/me", headers=user.auth).status_code == 200
    assert_error(private.get("/api/v1/subscriptions", headers=user.auth), 401, "unauthorized")  # at once here
    now[0] += sessions.VERSION_TTL + 0.1
    assert_error(other.get("/api/v1/subscriptions", headers=user.auth), 401, "unauthorized")


def test_delete_me_erases_the_caller(private_app, private, emulator, templates):
    person = a_person(private, emulator, "a")
    exported = private.get("/api/v1/me/export", headers=person.user.auth)
    assert exported.status_code == 200 and exported.json["user"]["openid"] == person.user.openid
    response = private.delete("/api/v1/me", headers=person.user.auth)
    assert response.status_code == 200 and response.json["id"] == person.user.id
    assert_error(private.delete("/api/v1/me", headers=person.user.auth), 401, "unauthorized")
    assert_error(private.get(f"/api/v1/users/{person.user.id}", headers=API_KEY), 410, "user_erased")


def test_user_erased_payload_is_emptied_once_delivered(private_app, private, emulator, receiver):
    user = log_in(private, emulator)
    assert (
        private.put(f"/api/v1/users/{user.id}/external-id", json={"external_id": "E-77"}, headers=API_KEY).status_code
        == 200
    )
    assert private.delete(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    deliver_webhooks(private_app)
    with private_app.app_context():
        event = db.session.scalar(sa.select(WebhookEvent).where(WebhookEvent.type == "user.erased"))
        assert event.status == "delivered" and event.payload["data"] == {}
    assert [e["data"]["external_id"] for e in receiver.events() if e["type"] == "user.erased"] == ["E-77"]


def test_export_holds_everything_of_the_person(private_app, private, emulator, templates):
    person = a_person(private, emulator, "a")
    document = private.get(f"/api/v1/users/{person.user.id}/export", headers=API_KEY).json
    assert set(document) == {
        "user",
        "subscriptions",
        "device_subscriptions",
        "device_bindings",
        "consent_events",
        "messages",
        "webhook_events",
        "exported_at",
    }
    assert document["user"]["external_id"] == person.external_id and document["user"]["unionid"] == person.unionid
    assert "session_key" not in document["user"]
    assert [s["remaining"] for s in document["subscriptions"]] == [2]
    assert {
        m["data"]["thing1"]["value"] if isinstance(m["data"]["thing1"], dict) else m["data"]["thing1"]
        for m in document["messages"]
    } == {person.value}
    assert any(event["result"] == "accept" for event in document["consent_events"])
    assert document["webhook_events"] and all(
        event["payload"]["data"]["user_id"] == person.user.id for event in document["webhook_events"]
    )
    runner = private_app.test_cli_runner()
    result = runner.invoke(args=["wx", "users", "export", "--external-id", person.external_id])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["messages"] == document["messages"]


def test_the_devices_a_person_follows_are_exported_and_go_with_the_erase(private_app, private, emulator):
    user = log_in(private, emulator)
    bound = private.put(f"/api/v1/devices/washer-1/SN-HOME/users/{user.id}", headers=API_KEY)
    assert bound.status_code == 200, bound.json
    document = private.get(f"/api/v1/users/{user.id}/export", headers=API_KEY).json
    assert [(b["model_id"], b["sn"]) for b in document["device_bindings"]] == [("washer-1", "SN-HOME")]

    assert private.delete(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    with private_app.app_context():
        left = db.session.scalar(sa.text("SELECT count(*) FROM device_bindings WHERE user_id = :id"), {"id": user.id})
    assert left == 0  # which devices someone follows says where they live


def test_cli_erase_by_openid_is_idempotent(private_app, private, emulator):
    user = log_in(private, emulator)
    runner = private_app.test_cli_runner()
    first = runner.invoke(args=["wx", "users", "erase", "--openid", user.openid])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["wx", "users", "erase", "--openid", user.openid])
    assert second.exit_code == 0 and json.loads(second.output) == json.loads(first.output)
    assert json.loads(first.output)["id"] == user.id
    missing = runner.invoke(args=["wx", "users", "erase", "--external-id", "nobody"])
    assert missing.exit_code == 1 and json.loads(missing.output.splitlines()[0])["error"]["code"] == "user_not_found"


# -- a restore of a backup taken before the erase -------------------------------------------


def backup(app) -> object:
    """The database as it is now: the SQLite file copied; on PostgreSQL every row of every table."""
    with app.app_context():
        db.engine.dispose()
        if db.engine.dialect.name == "sqlite":
            path = db.engine.url.database
            shutil.copy(path, path + ".bak")
            return path
        metadata = sa.MetaData()
        metadata.reflect(bind=db.engine)
        with db.engine.connect() as connection:
            return {
                table.name: [dict(r._mapping) for r in connection.execute(sa.select(table))]
                for table in metadata.sorted_tables
            }


def restore(app, saved) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        if isinstance(saved, str):
            shutil.copy(saved + ".bak", saved)
            return
        metadata = sa.MetaData()
        metadata.reflect(bind=db.engine)
        with db.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(sa.delete(table))
            for table in metadata.sorted_tables:
                if saved.get(table.name):
                    connection.execute(sa.insert(table), saved[table.name])


def test_a_restore_is_erased_again_by_reapply(private_app, private, emulator, templates, erasure_log):
    person, other = a_person(private, emulator, "a"), a_person(private, emulator, "b")
    deliver_webhooks(private_app)
    saved = backup(private_app)
    assert private.delete(f"/api/v1/users/{person.user.id}", headers=API_KEY).status_code == 200
    deliver_webhooks(private_app)
    assert traces_left(private_app, person) == []

    restore(private_app, saved)
    assert traces_left(private_app, person) != []  # the restore brought the person back
    runner = private_app.test_cli_runner()
    result = runner.invoke(args=["wx", "users", "erase", "--reapply", "--from", str(erasure_log)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"erased": 1}
    assert traces_left(private_app, person) == []
    assert traces_left(private_app, other) != []

    # The same openid logs in after the erasure: a new person, whom a second reapply leaves alone.
    again = log_in(private, emulator, openid=person.user.openid)
    result = runner.invoke(args=["wx", "users", "erase", "--reapply"])
    assert json.loads(result.output) == {"erased": 0}
    assert private.get(f"/api/v1/users/{again.id}", headers=API_KEY).status_code == 200


@pytest.mark.parametrize("option", ["--openid", "--user-id"])
def test_cli_needs_exactly_one_person(private_app, option):
    result = private_app.test_cli_runner().invoke(args=["wx", "users", "erase"])
    assert result.exit_code == 2


def test_a_user_erased_event_given_up_loses_its_payload(private_app, private, emulator, receiver):
    user = log_in(private, emulator)
    assert (
        private.put(f"/api/v1/users/{user.id}/external-id", json={"external_id": "E-78"}, headers=API_KEY).status_code
        == 200
    )
    assert private.delete(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    with private_app.app_context():
        # As if it had failed for 3 days: its next failure is the last.
        db.session.execute(sa.update(WebhookEvent).where(WebhookEvent.type == "user.erased").values(attempts=40))
        db.session.commit()
    receiver.statuses = [500]
    deliver_due(private_app)
    with private_app.app_context():
        event = db.session.scalar(sa.select(WebhookEvent).where(WebhookEvent.type == "user.erased"))
        assert event.status == "dead" and event.payload["data"] == {}


def test_the_erasure_key_is_its_own(private_app):
    """Tombstones keep matching after `wx keys rotate` replaces DATA_KEY; ERASURE_KEY changes them."""
    from backend.infra.data_keys import new_key_text
    from backend.privacy import erasure

    with private_app.app_context():
        before = erasure.subject_hash("wx1", "oPerson")
        private_app.config["DATA_KEY"] = new_key_text()
        assert erasure.subject_hash("wx1", "oPerson") == before
        private_app.config["ERASURE_KEY"] = "another-erasure-key-of-some-length"
        assert erasure.subject_hash("wx1", "oPerson") != before


def test_no_process_answers_for_an_erased_person(private_app, private, emulator, templates, other_process):
    """Another process that sent to the user before: its next send by user_id meets the erase."""
    from tests.helpers import accept

    user = log_in(private, emulator)
    accept(private, emulator, user, times=2)
    other = other_process
    body = {"user_id": user.id, "template_id": T1, "data": GOOD_DATA}
    assert send(other.test_client(), body).status_code == 201
    assert private.delete(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    assert_error(send(other.test_client(), body), 410, "user_erased")
    body_by_openid = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}
    assert_error(send(other.test_client(), body_by_openid), 404, "user_not_found")
    batch = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"user_id": user.id}]}
    created = other.test_client().post("/api/v1/batches", json=batch, headers=API_KEY)
    assert created.status_code == 202
    with other.app_context():
        rows = db.session.execute(sa.text("SELECT user_id, openid, outcome FROM messages WHERE batch_id IS NOT NULL"))
        assert [tuple(row) for row in rows] == [(None, None, "user_not_found")]


def test_no_erase_without_its_log_line(private_app, private, emulator, tmp_path):
    user = log_in(private, emulator)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    private_app.config["ERASURE_LOG"] = str(blocker / "erasures.log")  # its folder is a file
    assert_error(private.delete(f"/api/v1/users/{user.id}", headers=API_KEY), 503, "service_unavailable")
    assert private.get(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200  # nothing erased
    assert private.get("/api/v1/me", headers=user.auth).status_code == 200
