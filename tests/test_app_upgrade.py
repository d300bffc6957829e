"""Upgrading a one-app database to rows that carry their app (migration 9e4b7c1d2f60).

The schema is built as it was before (revision 6a3f9d2c1e57), rows are written with plain SQL
as that version wrote them, then `flask db upgrade` runs: every row belongs to the configured
app, and the same user logs in and sends with the credits they had.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from tests.conftest import app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME
from tests.test_apps import ALL_APPS_KEY, write
from wxemu.defaults import DEV_APPID

BEFORE = "6a3f9d2c1e57"
T1 = ONE_TIME["priTmplId"]
TABLES = (
    "users",
    "templates",
    "subscriptions",
    "consent_events",
    "messages",
    "batches",
    "idempotency_records",
    "binding_codes",
    "device_subscriptions",
)


def write_old_rows(conn) -> None:
    """A user with 2 credits for T1, its audit row, a batch with a sent message, an idempotency
    record, a binding code, a device subscription and a template looked up long ago."""
    now = datetime.now().astimezone()
    old = now - timedelta(days=1)
    statements = [
        "INSERT INTO users (id, openid, unionid, token_version, external_id, created_at, updated_at)"
        " VALUES (1, 'o-old', 'u-old', 0, 'EMP-1', :now, :now)",
        "INSERT INTO templates (id, kind, keywords, enum_values, synced, created_at, updated_at)"
        " VALUES (:t1, 'one_time', '[]', '{}', false, :old, :old)",
        "INSERT INTO subscriptions (id, user_id, template_id, kind, status, remaining, created_at, updated_at)"
        " VALUES (1, 1, :t1, 'one_time', 'accept', 2, :now, :now)",
        "INSERT INTO consent_events (user_id, template_id, source, result, credits_delta, dedupe_key, created_at)"
        " VALUES (1, :t1, 'push', 'accept', 2, 'push:old', :now)",
        "INSERT INTO batches (id, public_id, template_id, status, total, created_at, updated_at)"
        " VALUES (1, 'bat_old', :t1, 'done', 1, :now, :now)",
        "INSERT INTO messages (public_id, batch_id, user_id, openid, attempts, template_id, data, miniprogram_state,"
        " lang, status, created_at, updated_at) VALUES ('msg_old', 1, 1, 'o-old', 0, :t1, '{}', 'formal', 'zh_CN',"
        " 'sent', :now, :now)",
        "INSERT INTO idempotency_records (scope, key, request_hash, status_code, locked_until, created_at)"
        " VALUES ('key:x', 'k-old', 'h', 201, :now, :now)",
        "INSERT INTO binding_codes (code_hash, external_id, expires_at, created_at) VALUES ('c', 'EMP-2', :now, :now)",
        "INSERT INTO device_subscriptions (user_id, template_id, model_id, sn, status, audio, created_at, updated_at)"
        " VALUES (1, 'tmpl-device', 'm', 'sn', 'accept', false, :now, :now)",
    ]
    for statement in statements:
        conn.execute(sa.text(statement), {"now": now, "old": old, "t1": T1})


def apps_in(conn, table: str) -> list[str]:
    return conn.execute(sa.text(f"SELECT DISTINCT app_id FROM {table}")).scalars().all()  # noqa: S608 - ours


def test_a_one_app_database_keeps_its_rows_and_works_after_the_upgrade(database_url, emulator, templates):
    app = create_app(app_config(database_url, emulator.url))
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            write_old_rows(conn)
        upgrade()
        with db.engine.connect() as conn:
            apps = {table: apps_in(conn, table) for table in TABLES}
        db.engine.dispose()
    assert apps == {table: [DEV_APPID] for table in TABLES}
    # The same person logs in (the same openid at WeChat) and is the same user, credits and all.
    emulator.control("POST", "/popup", openid="o-old", results={T1: "accept"})
    client = app.test_client()
    issued = emulator.login_code(openid="o-old")
    logged_in = client.post("/api/v1/auth/login", json={"code": issued["code"]})
    assert logged_in.status_code == 200 and logged_in.json["user"]["id"] == 1
    sent = client.post(
        "/api/v1/messages", json={"external_id": "EMP-1", "template_id": T1, "data": GOOD_DATA}, headers=API_KEY
    )
    assert sent.status_code == 201, sent.json
    assert (sent.json["appid"], sent.json["user_id"], sent.json["remaining"]) == (DEV_APPID, 1, 1)
    old = client.get("/api/v1/messages/msg_old", headers=API_KEY)
    assert old.status_code == 200 and old.json["appid"] == DEV_APPID
    with app.app_context():
        db.engine.dispose()


def test_with_several_apps_and_old_rows_the_upgrade_asks_which_app_they_are(
    database_url, emulator, tmp_path, capsys, caplog
):
    with create_app(app_config(database_url, emulator.url)).app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            write_old_rows(conn)
        db.engine.dispose()
    config = app_config(
        database_url,
        emulator.url,
        WX_APPID=None,
        WX_SECRET=None,
        WX_APPS_FILE=write(tmp_path),
        BUSINESS_API_KEYS=[ALL_APPS_KEY],
    )
    two_apps = create_app(config)
    with two_apps.app_context():
        with pytest.raises((RuntimeError, SystemExit)) as refused:
            upgrade()
        with db.engine.connect() as conn:
            columns = {column["name"] for column in sa.inspect(conn).get_columns("users")}
        db.engine.dispose()
    said = str(refused.value) + capsys.readouterr().err + caplog.text  # Flask-Migrate logs it, then exits
    assert "WX_APPID" in said and "WX_APPS_FILE" in said
    assert "app_id" not in columns  # refused before anything changed
