"""`flask --app wsgi wx doctor` against the emulator: one line per check, exit 1 on any FAIL, no secret shown."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from tests.conftest import REDIS_URL, app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, TEST_DATA_KEY, accept, log_in, report

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRETS = {
    "WX_TOKEN": "push-token-value",
    "WX_ENCODING_AES_KEY": AES_KEY,
    "SECRET_KEY": "a-session-signing-key-of-32-chars-or-more",
    "ADMIN_PASSWORD": "admin-password-value",
    "DATA_KEY": TEST_DATA_KEY,
    "BUSINESS_API_KEYS": ["test-api-key"],
}
# Outside dev mode its default is on (the tests' environment is dev mode, where it is off).
PRODUCTION = {**SECRETS, "DEVICE_BINDING_REQUIRED": True}
ENGLISH = {"LC_ALL": "C.UTF-8"}  # whatever the developer's LANG (LANG=zh_CN.UTF-8: tests/test_doctor_i18n.py)
CHECKS = [
    "configuration",
    "apps",
    "webhooks",
    "retention",
    "erasure log",
    "database reachable",
    "database migrated",
    "redis",
    "WeChat reachable",
    "access token",
    "send quota",
    "templates synced",
    "push configured",
    "unknown messages",
]


@pytest.fixture
def deployment(database_url, emulator):
    """Build a migrated deployment (not dev mode) against the emulator, with `overrides`."""
    apps = []

    def build(**overrides):
        app = create_app(app_config(database_url, emulator.url, DEV_MODE=False, **{**PRODUCTION, **overrides}))
        with app.app_context():
            upgrade()
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def doctor(app, *args: str) -> tuple[int, dict[str, str]]:
    result = app.test_cli_runner().invoke(args=["wx", "doctor", *args], env=ENGLISH)
    lines = result.output.splitlines()
    assert [line.split(maxsplit=1)[1].split(":")[0] for line in lines] == CHECKS, result.output
    return result.exit_code, {line.split(maxsplit=1)[1].split(":")[0]: line for line in lines}


def secret_values(app) -> list[str]:
    values = [app.config["WX_SECRET"], SECRETS["WX_TOKEN"], AES_KEY, SECRETS["SECRET_KEY"], SECRETS["ADMIN_PASSWORD"]]
    values.append(SECRETS["DATA_KEY"])
    with app.app_context():
        values.append(app.extensions["apps"].only().client.tokens.get())  # the access token
    return [*values, *SECRETS["BUSINESS_API_KEYS"]]


def test_a_ready_deployment_is_all_ok_and_shows_no_secret(deployment, emulator):
    app = deployment()
    status, lines = doctor(app)
    assert status == 0
    assert all(line.startswith("ok ") for line in lines.values()), lines
    assert "not configured" in lines["redis"]
    output = "\n".join(lines.values())
    for value in secret_values(app):
        assert value not in output
    assert emulator.calls("stable_token")  # the token was really asked for, from this machine


@pytest.mark.redis
def test_with_redis_it_is_checked(deployment):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    status, lines = doctor(deployment(REDIS_URL=REDIS_URL))
    assert status == 0 and lines["redis"] == "ok   redis", lines


def test_device_bindings_off_outside_dev_mode_is_a_warning(deployment):
    status, lines = doctor(deployment(DEVICE_BINDING_REQUIRED=False))
    assert status == 0
    assert lines["configuration"] == (
        "warn configuration: DEVICE_BINDING_REQUIRED is off: anyone logged in may follow any device"
    )


def test_a_wrong_secret_says_so(deployment):
    app = deployment(WX_SECRET="a-wrong-app-secret")
    status, lines = doctor(app)
    assert status == 1
    assert lines["access token"].startswith("FAIL access token: errcode 40125")
    assert "WX_SECRET" in lines["access token"]
    assert "a-wrong-app-secret" not in "\n".join(lines.values())


def test_an_ip_outside_the_whitelist_says_what_to_add(deployment, emulator):
    app = deployment()
    emulator.fault(api="stable_token", errcode=40164, times=1)
    status, lines = doctor(app)
    assert status == 1
    assert lines["access token"].startswith("FAIL access token: errcode 40164")
    assert "add this machine's outbound IP 127.0.0.1 to the mini program's IP whitelist" in lines["access token"]


def test_redis_unreachable_fails_and_the_token_check_waits_for_it(deployment, unused_port):
    status, lines = doctor(deployment(REDIS_URL=f"redis://127.0.0.1:{unused_port}/0"))
    assert status == 1
    assert lines["redis"].startswith("FAIL redis: REDIS_URL does not answer") and str(unused_port) in lines["redis"]
    assert lines["access token"].startswith("skip access token")
    assert lines["database reachable"].startswith("ok ")


def test_a_template_never_synced_asks_for_a_sync(deployment, emulator):
    app = deployment()
    client = app.test_client()
    user = log_in(client, emulator)
    # Reported before the account's templates were synced, and not known to WeChat yet either.
    assert report(client, user, {ONE_TIME["priTmplId"]: "accept"}).status_code == 200
    status, lines = doctor(app)
    assert status == 1
    assert lines["templates synced"] == (
        "FAIL templates synced: 1 in use but never confirmed by WeChat (tmpl-order-shipped): "
        "run flask --app wsgi wx templates sync (an id that stays unconfirmed is not among the account's templates)"
    )
    emulator.template(**ONE_TIME)
    assert app.test_cli_runner().invoke(args=["wx", "templates", "sync"]).exit_code == 0
    status, lines = doctor(app)
    assert status == 0 and lines["templates synced"] == "ok   templates synced: 1 in use"


def test_push_without_a_key_is_a_warning_that_strict_counts(deployment):
    app = deployment(WX_ENCODING_AES_KEY=None)
    status, lines = doctor(app)
    assert status == 0
    assert lines["push configured"].startswith("warn push configured: plaintext mode")
    assert doctor(app, "--strict")[0] == 1


def test_unknown_messages_are_counted(deployment, emulator, templates):
    app = deployment(WX_TOKEN=None, WX_ENCODING_AES_KEY=None)  # without push, the report gives the credit
    client = app.test_client()
    user = log_in(client, emulator)
    accept(client, emulator, user)
    body = {"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    assert client.post("/api/v1/messages", json=body, headers=API_KEY).status_code == 201
    with app.app_context():  # as if its worker had died mid-call
        db.session.execute(sa.text("UPDATE messages SET status = 'unknown'"))
        db.session.commit()
    status, lines = doctor(app)
    assert status == 0
    assert lines["unknown messages"] == (
        "warn unknown messages: 1 may or may not have reached their users: see flask --app wsgi wx unknown"
    )


def test_a_database_without_schema_asks_for_an_upgrade(database_url, emulator):
    app = create_app(app_config(database_url, emulator.url, DEV_MODE=False, **PRODUCTION))
    status, lines = doctor(app)
    assert status == 1
    assert lines["database migrated"] == "FAIL database migrated: no schema yet: run flask --app wsgi db upgrade"
    assert lines["templates synced"].startswith("skip ")
    with app.app_context():
        db.engine.dispose()


def test_a_database_that_does_not_answer(emulator, unused_port):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{unused_port}/none?connect_timeout=1"
    status, lines = doctor(create_app(app_config(url, emulator.url, DEV_MODE=False, **PRODUCTION)))
    assert status == 1
    assert lines["database reachable"].startswith("FAIL database reachable: cannot use the database: connection")
    assert "check DATABASE_URL" in lines["database reachable"]
    assert [name for name, line in lines.items() if line.startswith("skip ")] == [
        "database migrated",
        "access token",
        "send quota",
        "templates synced",
        "unknown messages",
    ]


def test_an_erasure_log_that_cannot_be_written_fails(deployment, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = deployment(ERASURE_LOG=str(blocker / "erasures.log"))
    with app.app_context():
        from backend.ops.doctor import check_erasure_log

        found = check_erasure_log(app)
    assert found.status == "FAIL" and "erases answer 503" in found.line("en")


def test_a_send_quota_under_10_percent_is_a_warning(deployment, emulator):
    app = deployment()
    emulator.control("POST", "/quota", daily_limit=1000, used=950)
    status, lines = doctor(app)
    assert status == 0
    assert lines["send quota"].startswith("warn send quota: 50 of 1000 left today; under 10 %"), lines
