"""Phone numbers and session keys sealed at rest; look-ups by keyed hash; `wx keys rotate`; the migration.

docs/operations.md, "Personal data at rest": the database (file or dump) holds no phone number and
no session key in clear; a key change keeps every row readable and findable until rotation, and
rotation moves every row to the new key.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url

from backend import create_app
from backend.extensions import db
from backend.infra.data_keys import DataKeys, new_key_text
from backend.models import User
from backend.users import personal
from tests.api.test_recipients import share_phone
from tests.conftest import app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, TEST_DATA_KEY, accept, log_in, reconfigure, send

NUMBER = "13800138000"
OTHER_KEY = new_key_text()


def every_value(app) -> str:
    """Every value of every column of every table, as text: what a dump would show."""
    with app.app_context():
        with db.engine.connect() as conn:
            texts = [
                repr(tuple(row)) for table in db.metadata.sorted_tables for row in conn.execute(sa.select(table)).all()
            ]
        db.engine.dispose()
    return "\n".join(texts)


def stored_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        db.session.remove()
    return user


@pytest.fixture
def keyed_app(database_url, emulator):
    from tests.conftest import running_app

    with running_app(app_config(database_url, emulator.url, DATA_KEY=TEST_DATA_KEY)) as app:
        yield app


def test_no_phone_number_or_session_key_is_stored_in_clear(keyed_app, emulator, templates):
    client = keyed_app.test_client()
    user = log_in(client, emulator)
    [call] = emulator.calls("jscode2session")
    share_phone(client, emulator, user, NUMBER)
    stored = stored_user(keyed_app, user.id)
    assert stored.phone_number.startswith("v1.") and stored.session_key.startswith("v1.")
    with keyed_app.app_context():
        assert personal.phone_of(stored) == NUMBER
        assert personal.session_key_of(stored) == call["session_key"]
    everything = every_value(keyed_app)
    assert NUMBER not in everything and call["session_key"] not in everything
    # What the API shows, and the sends by phone number, still work.
    assert client.get("/api/v1/me", headers=user.auth).json["phone_number"] == NUMBER
    accept(client, emulator, user)
    body = {"phone_number": f"+86 {NUMBER}", "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    assert send(client, body).status_code == 201


def test_the_database_file_or_its_dump_holds_no_number_in_clear(keyed_app, emulator):
    client = keyed_app.test_client()
    share_phone(client, emulator, log_in(client, emulator), NUMBER)
    url = make_url(keyed_app.config["SQLALCHEMY_DATABASE_URI"])
    with keyed_app.app_context():
        db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        raw = b"".join(path.read_bytes() for path in Path(url.database).parent.glob(Path(url.database).name + "*"))
    else:
        dump = ["pg_dump", "--data-only", url.set(drivername="postgresql").render_as_string(hide_password=False)]
        raw = subprocess.run(dump, capture_output=True, check=True, timeout=60).stdout
        assert b"COPY public.users" in raw
    assert NUMBER.encode() not in raw


def test_a_new_key_keeps_old_rows_readable_and_findable_until_rotation_moves_them(keyed_app, emulator, templates):
    client = keyed_app.test_client()
    users = [log_in(client, emulator) for _ in range(3)]
    for n, user in enumerate(users):
        share_phone(client, emulator, user, f"1380013800{n}")
        accept(client, emulator, user)
    reconfigure(keyed_app, DATA_KEY=OTHER_KEY, DATA_KEYS_OLD=[TEST_DATA_KEY])
    # Before rotation: read under the old key, found by the old key's hash.
    assert client.get("/api/v1/me", headers=users[0].auth).json["phone_number"] == "13800138000"
    found = client.get("/api/v1/users", query_string={"phone_number": "13800138001"}, headers=API_KEY)
    assert [account["id"] for account in found.json["users"]] == [users[1].id]
    body = {"phone_number": "13800138002", "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    assert send(client, body).status_code == 201

    runner = keyed_app.test_cli_runner()
    result = runner.invoke(args=["wx", "keys", "rotate"], env={"LC_ALL": "C.UTF-8"})
    assert result.exit_code == 0, result.output
    assert "users: 3 rows read, 9 values sealed again, 3 hashes written again" in result.output
    again = runner.invoke(args=["wx", "keys", "rotate"], env={"LANG": "zh_CN.UTF-8", "LC_ALL": ""})
    assert "users：读取 3 行，重新加密 0 个值，重写 0 个哈希" in again.output  # idempotent, and in Chinese

    new = DataKeys.from_config({"DATA_KEY": OTHER_KEY, "DATA_KEYS_OLD": [], "SECRET_KEY": "x"})
    for user in users:
        stored = stored_user(keyed_app, user.id)
        assert not any(new.needs_rotation(value) for value in (stored.phone_number, stored.session_key))
    # The old key retired: everything still opens and is found.
    reconfigure(keyed_app, DATA_KEYS_OLD=[])
    assert client.get("/api/v1/me", headers=users[0].auth).json["phone_number"] == "13800138000"
    found = client.get("/api/v1/users", query_string={"phone_number": "13800138001"}, headers=API_KEY)
    assert [account["id"] for account in found.json["users"]] == [users[1].id]


def test_the_migration_seals_existing_rows_and_its_downgrade_opens_them(database_url, emulator):
    app = create_app(app_config(database_url, emulator.url, DATA_KEY=TEST_DATA_KEY))
    keys = DataKeys.from_config(app.config)
    with app.app_context():
        upgrade(revision="b4d8e2f61a73")  # the schema before sealing
        with db.engine.begin() as conn:
            for openid, number, key in (("o-a", NUMBER, "c2Vzc2lvbi1rZXk="), ("o-b", None, None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO users (app_id, openid, phone_number, pure_phone_number, country_code,"
                        " session_key, phone_e164, token_version, created_at, updated_at) VALUES"
                        " ('wx1', :openid, :number, :number, '86', :key, :e164, 0, :now, :now)"
                    ),
                    {
                        "openid": openid,
                        "number": number,
                        "key": key,
                        "e164": "+86" + number if number else None,
                        "now": datetime.now().astimezone(),
                    },
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = {row.openid: row for row in conn.execute(sa.text("SELECT * FROM users")).all()}
        downgrade(revision="b4d8e2f61a73")
        with db.engine.connect() as conn:
            restored = conn.execute(
                sa.text("SELECT phone_number, session_key, phone_e164 FROM users WHERE openid = 'o-a'")
            )
            restored = tuple(restored.one())
        db.engine.dispose()
    sealed = rows["o-a"]
    assert keys.open(sealed.phone_number) == NUMBER and keys.open(sealed.pure_phone_number) == NUMBER
    assert keys.open(sealed.session_key) == "c2Vzc2lvbi1rZXk="
    assert sealed.phone_hash == keys.lookup_hash("+86" + NUMBER)
    assert (rows["o-b"].phone_number, rows["o-b"].phone_hash) == (None, None)
    assert restored == (NUMBER, "c2Vzc2lvbi1rZXk=", "+86" + NUMBER)
