"""Several mini programs in one backend: the apps file, scoped keys, log-in, push and tokens per app.

The two-app backend reads a real TOML file and talks to the emulator hosting both apps, each
with its own secret, users (one openid per app for one person), templates, tokens and push keys.
"""

from __future__ import annotations

import base64
import os

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from backend import webhooks
from backend.apps import app_settings
from backend.config import load_config
from backend.consent.ledger import ensure_user
from backend.db.transactions import WritesPending
from backend.extensions import db
from backend.models import User, WebhookEvent
from backend.ops.startup import check_or_exit
from backend.settings import ConfigError
from backend.templates.catalog import get_template
from backend.wechat.crypto import signature
from tests.api.pushing import AES_KEY, popup
from tests.conftest import REDIS_URL, app_config, running_app
from tests.helpers import GOOD_DATA, ONE_TIME, TEST_DATA_KEY, assert_error, reconfigure
from tests.test_webhooks import Receiver
from wxemu.defaults import DEV_APPID
from wxemu.pusher import PushTarget, signed_request

A, B = "wxa0000000000a0001", "wxb0000000000b0002"
SECRET_A, SECRET_B = "secret-of-app-a", "secret-of-app-b"
TOKEN_A, TOKEN_B = "push-token-of-a", "push-token-of-b"
AES_A, AES_B = AES_KEY, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
ALL_APPS_KEY, KEY_A, KEY_B = "key-for-every-app", "key-for-a-only", "key-for-b-only"
T1 = ONE_TIME["priTmplId"]

APPS_FILE = f"""
[[app]]
appid = "{A}"
secret = "{SECRET_A}"
name = "Shop"
token = "{TOKEN_A}"
encoding_aes_key = "{AES_A}"
api_keys = ["{KEY_A}"]

[[app]]
appid = "{B}"
secret = "{SECRET_B}"
name = "Staff"
token = "{TOKEN_B}"
encoding_aes_key = "{AES_B}"
miniprogram_state = "trial"
api_keys = ["{KEY_B}"]
"""


def write(tmp_path, text: str = APPS_FILE):
    path = tmp_path / "apps.toml"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


# -- the apps file and start-up ----------------------------------------------------------------


def environ(path: str | None, **extra) -> dict[str, str]:
    values = {"SECRET_KEY": "k" * 40, "DATA_KEY": TEST_DATA_KEY, "DATABASE_URL": "sqlite:///x.sqlite3", **extra}
    if path:
        values["WX_APPS_FILE"] = path
    return values


def test_the_apps_file_gives_each_app_its_keys(tmp_path):
    config = load_config(environ(write(tmp_path), BUSINESS_API_KEYS=ALL_APPS_KEY))
    apps = {app.appid: app for app in app_settings(config)}
    assert set(apps) == {A, B} and not config["DEV_MODE"]
    assert (apps[A].name, apps[A].token, apps[A].api_keys) == ("Shop", TOKEN_A, (KEY_A,))
    assert apps[A].miniprogram_state == "formal" and apps[B].miniprogram_state == "trial"
    assert SECRET_A not in repr(apps[A]) and KEY_A not in repr(apps[A])


def test_one_app_from_the_variables_as_before():
    config = load_config(
        {"WX_APPID": A, "WX_SECRET": SECRET_A, "WX_TOKEN": TOKEN_A, "SECRET_KEY": "k" * 40, "DATA_KEY": TEST_DATA_KEY}
    )
    [app] = app_settings(config)
    assert (app.appid, app.secret, app.token, app.api_keys) == (A, SECRET_A, TOKEN_A, ())


@pytest.mark.parametrize(
    ("text", "extra", "said"),
    [
        (APPS_FILE, {"WX_APPID": A, "WX_SECRET": SECRET_A}, "WX_APPS_FILE is set, and so is WX_APPID, WX_SECRET"),
        (APPS_FILE, {"WX_TOKEN": TOKEN_A}, "and so is WX_TOKEN"),
        (APPS_FILE.replace(B, A), {}, f"lists the appid {A} twice"),
        (APPS_FILE.replace(f'secret = "{SECRET_B}"', ""), {}, f"[[app]] {B} has no secret"),
        (APPS_FILE.replace(f'appid = "{B}"', ""), {}, "[[app]] #2 has no appid"),
        (APPS_FILE.replace(KEY_B, KEY_A), {}, f"[[app]] {B}: api_keys #1 is also a key of {A}"),
        (APPS_FILE, {"BUSINESS_API_KEYS": KEY_A}, f"[[app]] {A}: api_keys #1 is also a key of BUSINESS_API_KEYS"),
        (APPS_FILE.replace("trial", "beta"), {}, "miniprogram_state must be one of"),
        (APPS_FILE.replace(AES_B, "short"), {}, f"[[app]] {B}: encoding_aes_key has 5 characters"),
        (APPS_FILE + "colour = 1\n", {}, "has unknown keys: colour"),
        (
            APPS_FILE.replace(KEY_B + '"]', KEY_B + '"]\nwebhook_url = "https://b.example/hooks"'),
            {},
            f"[[app]] {B}: webhook_secret is not set",
        ),
        (
            APPS_FILE.replace(KEY_B + '"]', KEY_B + '"]\nwebhook_secret = "whsec_abc"'),
            {},
            f"[[app]] {B}: webhook_url is not set",
        ),
        (
            APPS_FILE.replace(
                KEY_B + '"]', KEY_B + '"]\nwebhook_url = "https://b.example/"\nwebhook_secret = "s3cr3t"'
            ),
            {},
            f"[[app]] {B}: webhook_secret must start with whsec_",
        ),
        ("[[app]\n", {}, "is not valid TOML"),
        ("", {}, "lists no [[app]]"),
    ],
)
def test_a_wrong_apps_file_stops_start_up_naming_the_problem(tmp_path, text, extra, said):
    with pytest.raises(ConfigError) as raised:
        load_config(environ(write(tmp_path, text), **extra))
    assert said in str(raised.value)
    for secret in (SECRET_A, SECRET_B, KEY_A, KEY_B, AES_B, "s3cr3t"):
        assert secret not in str(raised.value)  # a key listed twice is named by place, never shown


def test_a_missing_apps_file_is_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in environ(str(tmp_path / "nowhere.toml")).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit):
        check_or_exit()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("Error: WX_APPS_FILE ") and "can't be read" in line


# -- a backend serving two apps ---------------------------------------------------------------


def serving_two_apps(database_url, emulator, tmp_path, text: str = APPS_FILE, **overrides):
    """A backend serving the apps of `text`, both hosted by the emulator."""
    for appid, secret, token, key in ((A, SECRET_A, TOKEN_A, AES_A), (B, SECRET_B, TOKEN_B, AES_B)):
        emulator.control("POST", "/apps", appid=appid, secret=secret, token=token, encoding_aes_key=key)
        emulator.template(**ONE_TIME, appid=appid)
    config = app_config(
        database_url,
        emulator.url,
        WX_APPID=None,
        WX_SECRET=None,
        WX_APPS_FILE=write(tmp_path, text),
        BUSINESS_API_KEYS=[ALL_APPS_KEY],
        **overrides,
    )
    return running_app(config)


@pytest.fixture
def two_apps(database_url, emulator, tmp_path):
    with serving_two_apps(database_url, emulator, tmp_path) as app:
        yield app


def log_in(client, emulator, appid: str, **person) -> dict:
    """The log-in's answer, with the openid the emulator gave the person in `appid`."""
    issued = emulator.login_code(appid=appid, **person)
    response = client.post("/api/v1/auth/login", json={"code": issued["code"], "appid": appid})
    assert response.status_code == 200, response.json
    return {**response.json, "openid": issued["openid"]}


def push(client, appid: str, message: dict, token: str, aes_key: str, key_appid: str | None = None):
    """`message` pushed to `/wechat/push/<appid>`, safe mode, signed with `token` and encrypted with
    `aes_key` for `key_appid` (default: the app addressed)."""
    target = PushTarget(f"/wechat/push/{appid}", token, key_appid or appid, aes_key, "json", "safe")
    query, body, content_type = signed_request(target, message)
    return client.post(target.url, query_string=query, data=body.encode(), content_type=content_type)


def client_of(app, appid):
    return app.extensions["apps"].get(appid).client


class TestLogIn:
    def test_the_same_person_is_a_user_in_each_app_linked_by_unionid(self, two_apps, emulator):
        client = two_apps.test_client()
        in_a = log_in(client, emulator, A, unionid="u-alice")
        in_b = log_in(client, emulator, B, unionid="u-alice")
        assert in_a["user"]["id"] != in_b["user"]["id"] and in_a["openid"] != in_b["openid"]
        with two_apps.app_context():
            unionids = db.session.scalars(sa.select(User.unionid).order_by(User.id)).all()
        assert unionids == ["u-alice", "u-alice"]

    def test_with_several_apps_the_log_in_names_its_app(self, two_apps, emulator):
        client = two_apps.test_client()
        code = emulator.login_code(appid=A)["code"]
        details = assert_error(client.post("/api/v1/auth/login", json={"code": code}), 400, "invalid_request")
        assert "appid" in details
        response = client.post("/api/v1/auth/login", json={"code": code, "appid": "wx-not-served-here"})
        assert_error(response, 404, "app_not_found")
        assert not emulator.calls("jscode2session")  # refused before WeChat was asked

    def test_a_code_of_one_app_is_refused_by_the_other(self, two_apps, emulator):
        code = emulator.login_code(appid=A)["code"]
        response = two_apps.test_client().post("/api/v1/auth/login", json={"code": code, "appid": B})
        assert_error(response, 401, "wechat_code_invalid")

    def test_the_session_token_acts_within_its_app(self, two_apps, emulator):
        """A phone code of B is redeemed with B's client: the session token says which app it is."""
        client = two_apps.test_client()
        session = log_in(client, emulator, B)
        code = emulator.control("POST", "/phone_codes", appid=B, openid=session["openid"], phone_number="13800138000")
        response = client.post(
            "/api/v1/auth/phone", json={"code": code["code"]}, headers={"Authorization": f"Bearer {session['token']}"}
        )
        assert response.status_code == 200 and response.json["pure_phone_number"] == "13800138000"


class TestScopedKeys:
    def send(self, client, key: str, **body):
        body = {"template_id": T1, "data": GOOD_DATA, "openid": "o-someone", **body}
        return client.post("/api/v1/messages", json=body, headers={"X-Api-Key": key})

    def test_a_key_for_every_app_must_name_the_app(self, two_apps):
        details = assert_error(self.send(two_apps.test_client(), ALL_APPS_KEY), 400, "invalid_request")
        assert "appid" in details

    def test_a_key_of_one_app_may_not_act_for_another(self, two_apps):
        client = two_apps.test_client()
        assert_error(self.send(client, KEY_A, appid=B), 403, "forbidden")
        response = client.get("/api/v1/messages", query_string={"appid": B}, headers={"X-Api-Key": KEY_A})
        assert_error(response, 403, "forbidden")

    def test_an_appid_not_served_here_is_404(self, two_apps):
        assert_error(self.send(two_apps.test_client(), ALL_APPS_KEY, appid="wx-nope"), 404, "app_not_found")

    def test_a_scoped_key_sends_through_its_own_app(self, two_apps, emulator):
        """KEY_A names no app and acts for A: the send goes out with A's token to A's user."""
        client = two_apps.test_client()
        session = log_in(client, emulator, A)
        openid = session["openid"]
        emulator.control("POST", "/popup", appid=A, openid=openid, results={T1: "accept"})
        # A has push: the credit comes from WeChat's signed popup event, pushed to A's URL.
        assert push(client, A, popup(openid, (T1, "accept")), TOKEN_A, AES_A).status_code == 200
        response = self.send(client, KEY_A, openid=openid)
        assert response.status_code == 201, response.json
        [sent] = emulator.calls("subscribe_send")
        assert sent["errcode"] == 0 and sent["touser"] == openid
        assert client_of(two_apps, A).tokens.fetches == 1 and client_of(two_apps, B).tokens.fetches == 0

    def test_a_user_id_implies_its_app(self, two_apps, emulator):
        """A key of several apps may leave `appid` out when it names the recipient by `user_id`."""
        client = two_apps.test_client()
        session = log_in(client, emulator, B)
        emulator.control("POST", "/popup", appid=B, openid=session["openid"], results={T1: "accept"})
        assert push(client, B, popup(session["openid"], (T1, "accept")), TOKEN_B, AES_B).status_code == 200
        body = {"template_id": T1, "data": GOOD_DATA, "user_id": session["user"]["id"]}
        response = client.post("/api/v1/messages", json=body, headers={"X-Api-Key": ALL_APPS_KEY})
        assert response.status_code == 201, response.json
        assert response.json["appid"] == B
        [sent] = emulator.calls("subscribe_send")
        assert sent["touser"] == session["openid"] and client_of(two_apps, A).tokens.fetches == 0

    def test_a_user_id_outside_the_keys_apps_is_404(self, two_apps, emulator):
        client = two_apps.test_client()
        in_b = log_in(client, emulator, B)["user"]["id"]
        body = {"template_id": T1, "data": GOOD_DATA, "user_id": in_b}
        assert_error(client.post("/api/v1/messages", json=body, headers={"X-Api-Key": KEY_A}), 404, "user_not_found")
        unknown = {**body, "user_id": in_b + 1000}
        response = client.post("/api/v1/messages", json=unknown, headers={"X-Api-Key": ALL_APPS_KEY})
        assert_error(response, 404, "user_not_found")
        assert emulator.calls("subscribe_send") == []

    def test_the_all_apps_key_may_name_either_app(self, two_apps):
        response = self.send(two_apps.test_client(), ALL_APPS_KEY, appid=B)
        assert_error(response, 404, "user_not_found")  # past the guard: B's send, to a user no one knows


class TestPushPerApp:
    def post(self, client, appid: str, token: str, aes_key: str, key_appid: str | None = None):
        return push(client, appid, popup("o-pushed", (T1, "accept")), token, aes_key, key_appid)

    def test_a_push_for_a_signed_with_b_keys_is_refused(self, two_apps):
        client = two_apps.test_client()
        assert_error(self.post(client, A, TOKEN_B, AES_B, key_appid=B), 403, "push_refused")
        assert_error(self.post(client, A, TOKEN_A, AES_B), 403, "push_refused")  # A's Token, B's key
        with two_apps.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0

    def test_a_push_for_a_with_a_keys_is_accepted(self, two_apps):
        response = self.post(two_apps.test_client(), A, TOKEN_A, AES_A)
        assert response.status_code == 200 and response.get_data(as_text=True) == "success"
        with two_apps.app_context():
            assert db.session.scalar(sa.select(User.openid)) == "o-pushed"

    def test_url_verification_uses_the_app_token(self, two_apps):
        client = two_apps.test_client()
        import time

        stamp, nonce = str(int(time.time())), "12345"
        for token, status in ((TOKEN_B, 403), (TOKEN_A, 200)):
            query = {"signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce, "echostr": "hi"}
            response = client.get(f"/wechat/push/{A}", query_string=query)
            assert response.status_code == status
        assert response.get_data(as_text=True) == "hi"

    def test_the_bare_push_url_and_unknown_apps_answer_404(self, two_apps):
        client = two_apps.test_client()
        assert client.post("/wechat/push").status_code == 404  # which app's keys? none: nothing listens
        assert client.post("/wechat/push/wx-nope").status_code == 404


class TestTokensPerApp:
    def test_each_app_fetches_one_token_for_all_its_calls(self, two_apps, emulator):
        with two_apps.app_context():
            for _ in range(3):
                client_of(two_apps, A).templates.list()
                client_of(two_apps, B).templates.list()
            assert client_of(two_apps, A).tokens.fetches == 1 and client_of(two_apps, B).tokens.fetches == 1
            tokens = {appid: client_of(two_apps, appid).tokens.store.read().token for appid in (A, B)}
        assert tokens[A] != tokens[B] and len(emulator.calls("stable_token")) == 2

    def test_invalidating_a_token_at_wechat_refreshes_that_app_only(self, two_apps, emulator):
        with two_apps.app_context():
            client_of(two_apps, A).templates.list()
            client_of(two_apps, B).templates.list()
            emulator.control("POST", "/tokens/invalidate", appid=A)
            assert client_of(two_apps, A).templates.list() and client_of(two_apps, B).templates.list()
            assert client_of(two_apps, A).tokens.fetches == 2 and client_of(two_apps, B).tokens.fetches == 1

    def test_one_app_failing_to_get_a_token_leaves_the_other_working(self, two_apps, emulator):
        from backend.wechat.errors import WeChatAPIError

        emulator.control("POST", "/apps", appid=B, secret="reset-in-the-console", token=TOKEN_B)
        with two_apps.app_context():
            with pytest.raises(WeChatAPIError) as raised:
                client_of(two_apps, B).templates.list()
            assert raised.value.errcode == 40125
            assert client_of(two_apps, A).templates.list()[0]["priTmplId"] == T1

    def test_each_app_has_its_own_catalog_at_wechat(self, two_apps, emulator):
        emulator.template(**{**ONE_TIME, "priTmplId": "tmpl-only-in-b"}, appid=B)
        with two_apps.app_context():
            listed = {appid: {t["priTmplId"] for t in client_of(two_apps, appid).templates.list()} for appid in (A, B)}
        assert listed == {A: {T1}, B: {T1, "tmpl-only-in-b"}}


class TestOperations:
    def test_wx_apps_lists_each_app_and_its_token_state(self, two_apps):
        with two_apps.app_context():
            client_of(two_apps, A).templates.list()
        result = two_apps.test_cli_runner().invoke(args=["wx", "apps"])
        assert result.exit_code == 0, result.output
        line_a, line_b = result.output.splitlines()
        assert line_a.startswith(f"{A}  configured  Shop  push safe mode  token valid ")
        assert line_b == f"{B}  configured  Staff  push safe mode  no token yet  0 templates  0 credits outstanding"
        token = client_of(two_apps, A).tokens.store.read().token
        assert token not in result.output and SECRET_A not in result.output

    def test_templates_sync_one_app_with_its_own_client(self, two_apps, emulator):
        emulator.template(**{**ONE_TIME, "priTmplId": "tmpl-only-in-b"}, appid=B)
        runner = two_apps.test_cli_runner()
        result = runner.invoke(args=["wx", "templates", "sync", "--app", B])
        assert result.exit_code == 0, result.output
        assert {line.split()[1] for line in result.output.splitlines()} == {T1, "tmpl-only-in-b"}
        assert client_of(two_apps, A).tokens.fetches == 0
        assert runner.invoke(args=["wx", "templates", "sync", "--app", "wx-nope"]).exit_code == 2

    def test_doctor_checks_the_apps_file_and_each_app(self, two_apps):
        os.chmod(two_apps.config["WX_APPS_FILE"], 0o644)
        output = two_apps.test_cli_runner().invoke(args=["wx", "doctor"], env={"LC_ALL": "C.UTF-8"}).output
        assert f"warn apps: 2 from WX_APPS_FILE {two_apps.config['WX_APPS_FILE']}: {A} Shop, {B} Staff" in output
        assert "chmod 600" in output
        assert f" access token ({A})" in output and f" access token ({B})" in output  # a check per app
        assert f"push configured ({B}): Token and EncodingAESKey (safe mode) at /wechat/push/{B}" in output


# -- no commit behind the caller's back --------------------------------------------------------


class TestNoHiddenCommit:
    def count_users(self, app) -> int:
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(User))

    @pytest.mark.parametrize("write", ["orm", "flushed", "dml"])
    def test_a_wechat_call_with_pending_writes_refuses_instead_of_committing(self, app, wechat, write):
        with app.app_context():
            if write == "orm":
                db.session.add(User(app_id=DEV_APPID, openid="o-pending", token_version=0))
            elif write == "flushed":
                db.session.add(User(app_id=DEV_APPID, openid="o-pending", token_version=0))
                db.session.flush()
            else:
                ensure_user(DEV_APPID, "o-pending")  # an INSERT … ON CONFLICT through the session
            with pytest.raises(WritesPending):
                wechat.templates.list()
            db.session.rollback()
        assert self.count_users(app) == 0

    def test_a_read_only_transaction_is_ended_before_the_call(self, app, wechat):
        with app.app_context():
            db.session.scalar(sa.select(sa.func.count()).select_from(User))
            assert db.session().in_transaction()
            wechat.templates.list()
            assert not db.session().in_transaction()

    def test_get_template_does_not_commit_the_callers_writes(self, app, emulator, templates):
        with app.app_context():
            ensure_user(DEV_APPID, "o-pending")
            with pytest.raises(WritesPending):  # the look-up would call WeChat: refused, not committed
                get_template(app.extensions["apps"].only(), T1)
            db.session.rollback()
        assert self.count_users(app) == 0

    def test_get_template_stores_what_it_looked_up_in_its_own_transaction(self, app, emulator, templates):
        with app.app_context():
            template = get_template(app.extensions["apps"].only(), T1)
            assert template.kind == "one_time" and [k["key"] for k in template.keywords] == ["thing1", "time2"]
            assert not db.session().in_transaction()  # nothing of the caller's was left open or committed
        with app.app_context():
            from backend.models import Template

            assert db.session.get(Template, (DEV_APPID, T1)).synced


def test_each_app_sends_with_its_own_miniprogram_state(two_apps, emulator):
    """B's file entry says `trial`: a send of B that names no state opens B's trial version."""
    client = two_apps.test_client()
    session = log_in(client, emulator, B)
    emulator.control("POST", "/popup", appid=B, openid=session["openid"], results={T1: "accept"})
    assert push(client, B, popup(session["openid"], (T1, "accept")), TOKEN_B, AES_B).status_code == 200
    body = {"template_id": T1, "data": GOOD_DATA, "openid": session["openid"]}
    assert client.post("/api/v1/messages", json=body, headers={"X-Api-Key": KEY_B}).status_code == 201
    assert emulator.control("GET", "/sent")[0]["miniprogram_state"] == "trial"


@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_with_redis_each_app_keeps_its_token_under_its_appid(two_apps, emulator):
    import redis

    link = redis.Redis.from_url(REDIS_URL)
    keys = [f"wxsub:access_token:stable:{appid}" for appid in (A, B)]
    link.delete(*keys, *(f"{key}:lease" for key in keys))
    reconfigure(two_apps, REDIS_URL=REDIS_URL)
    with two_apps.app_context():
        for _ in range(3):
            client_of(two_apps, A).templates.list()
            client_of(two_apps, B).templates.list()
        emulator.control("POST", "/tokens/invalidate", appid=A)
        client_of(two_apps, A).templates.list()
        client_of(two_apps, B).templates.list()
    assert [client_of(two_apps, appid).tokens.fetches for appid in (A, B)] == [2, 1]
    stored = [link.hget(key, "token") for key in keys]
    assert all(stored) and stored[0] != stored[1]
    link.delete(*keys)


# -- webhooks per app --------------------------------------------------------------------------


def whsec() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


HOOK_SECRET_A, HOOK_SECRET_SHARED = whsec(), whsec()


@pytest.fixture
def receivers():
    own, shared = Receiver(), Receiver()
    yield own, shared
    own.stop()
    shared.stop()


def with_own_webhook(url: str) -> str:
    """The apps file with A's own receiver; B has none of its own."""
    own = f'webhook_url = "{url}"\nwebhook_secret = "{HOOK_SECRET_A}"\n'
    return APPS_FILE.replace(f'api_keys = ["{KEY_A}"]\n', f'api_keys = ["{KEY_A}"]\n{own}')


def accepted_in_each_app(app, emulator) -> None:
    """A user of A and one of B accept T1, each pushed to its app: one subscription.updated per app."""
    client = app.test_client()
    for appid, token, aes_key in ((A, TOKEN_A, AES_A), (B, TOKEN_B, AES_B)):
        openid = log_in(client, emulator, appid)["openid"]
        assert push(client, appid, popup(openid, (T1, "accept")), token, aes_key).status_code == 200


def verified(receiver: Receiver, secret: str) -> list[dict]:
    return [Webhook(secret).verify(request["body"], request["headers"]) for request in receiver.requests]


def test_each_app_s_events_go_to_its_own_receiver_signed_with_its_own_secret(
    database_url, emulator, tmp_path, receivers
):
    """A has its own webhook_url and webhook_secret; B's events go to WEBHOOK_URL, signed with WEBHOOK_SECRET."""
    own, shared = receivers
    text = with_own_webhook(own.url)
    hooks = {"WEBHOOK_URL": shared.url, "WEBHOOK_SECRET": HOOK_SECRET_SHARED, "WEBHOOK_TIMEOUT": 2.0}
    with serving_two_apps(database_url, emulator, tmp_path, text, **hooks) as app:
        accepted_in_each_app(app, emulator)
        assert webhooks.deliver_due(app) == 2
    [of_a] = verified(own, HOOK_SECRET_A)
    [of_b] = verified(shared, HOOK_SECRET_SHARED)
    assert (of_a["type"], of_a["data"]["appid"]) == ("subscription.updated", A)
    assert (of_b["type"], of_b["data"]["appid"]) == ("subscription.updated", B)
    for receiver, other_secret in ((own, HOOK_SECRET_SHARED), (shared, HOOK_SECRET_A)):
        with pytest.raises(Exception, match="signature"):  # each signed with its receiver's secret only
            verified(receiver, other_secret)


def test_an_app_s_own_receiver_works_without_webhook_url(database_url, emulator, tmp_path, receivers):
    """Only A has a receiver: A's events are written and delivered, B's are not written at all."""
    own, _ = receivers
    with serving_two_apps(database_url, emulator, tmp_path, with_own_webhook(own.url), WEBHOOK_TIMEOUT=2.0) as app:
        accepted_in_each_app(app, emulator)
        with app.app_context():
            assert db.session.scalars(sa.select(WebhookEvent.app)).all() == [A]
        assert webhooks.deliver_due(app) == 1
        with app.app_context():
            assert db.session.scalars(sa.select(WebhookEvent.status)).all() == ["delivered"]
    [of_a] = verified(own, HOOK_SECRET_A)
    assert of_a["data"]["appid"] == A


def test_doctor_names_each_app_s_webhook_receiver(database_url, emulator, tmp_path, receivers):
    own, shared = receivers
    hooks = {"WEBHOOK_URL": shared.url, "WEBHOOK_SECRET": HOOK_SECRET_SHARED}
    with serving_two_apps(database_url, emulator, tmp_path, with_own_webhook(own.url), **hooks) as app:
        output = app.test_cli_runner().invoke(args=["wx", "doctor"]).output
    [line] = [line for line in output.splitlines() if line.split(maxsplit=1)[1].startswith("webhooks")]
    own_url, shared_url = (receiver.url.split("?")[0] for receiver in receivers)
    assert line.startswith("ok ")
    assert f"{A} to {own_url} (its own webhook_url)" in line and f"{B} to {shared_url} (WEBHOOK_URL)" in line
    for secret in (HOOK_SECRET_A, HOOK_SECRET_SHARED, "query-token"):
        assert secret not in output
