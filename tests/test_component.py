"""A third-party platform end to end over HTTP against the emulator (docs/wechat.md §14).

The backend serves no app of its own here: only merchants' mini programs that authorize the
platform. The emulator pushes tickets and authorizations to the backend's authorization event URL
and each merchant's subscribe events to its message URL (`$APPID$`), all in the platform's keys.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import redis
import sqlalchemy as sa

from backend import create_app
from backend.extensions import db
from backend.models import AuthorizedApp, ComponentTicket, User, utcnow
from backend.ops import doctor, stats
from tests.conftest import app_config, running_app
from tests.helpers import GOOD_DATA, ONE_TIME, assert_error
from wxemu.component import DEFAULT_COMPONENT
from wxemu.pusher import PushTarget, event_message, signed_request

API_KEY = {"X-Api-Key": "test-api-key"}
DATA_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
MERCHANTS = ("wxm0000000000a0001", "wxm0000000000a0002", "wxm0000000000a0003")
T1 = ONE_TIME["priTmplId"]


def platform_config(database_url: str, emulator_url: str, **overrides) -> dict:
    return app_config(
        database_url,
        emulator_url,
        WX_APPID=None,
        WX_SECRET=None,
        WX_COMPONENT_APPID=DEFAULT_COMPONENT["appid"],
        WX_COMPONENT_SECRET=DEFAULT_COMPONENT["secret"],
        WX_COMPONENT_TOKEN=DEFAULT_COMPONENT["token"],
        WX_COMPONENT_AES_KEY=DEFAULT_COMPONENT["encoding_aes_key"],
        DATA_KEY=DATA_KEY,
        **overrides,
    )


@pytest.fixture
def app(database_url, emulator):
    with running_app(platform_config(database_url, emulator.url)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def platform(app, emulator, live_backend):
    """The emulator's component pointed at the backend, with a ticket delivered."""
    emulator.control(
        "POST",
        "/component",
        auth_url=f"{live_backend}/wechat/component/auth",
        message_url=f"{live_backend}/wechat/component/push/$APPID$",
    )
    assert emulator.control("POST", "/component/ticket")["push_status"] == 200
    return app.extensions["apps"].platform


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def app_row(app, appid: str) -> AuthorizedApp | None:
    with app.app_context():
        row = db.session.get(AuthorizedApp, appid)
        db.session.expunge_all()
        return row


def authorize(app, emulator, appid: str, func_ids=(18,)) -> dict:
    """The merchant authorizes in the emulator; the backend completes it from the `authorized` push."""
    before = app_row(app, appid)
    answer = emulator.control("POST", "/component/authorize", appid=appid, func_ids=list(func_ids))
    assert answer["push_status"] == 200
    wait_for(
        lambda: (row := app_row(app, appid)) is not None and (before is None or row.updated_at > before.updated_at)
    )
    emulator.control("POST", "/templates", appid=appid, **ONE_TIME)
    return answer


def log_in(client, emulator, appid: str) -> dict:
    issued = emulator.control("POST", "/login_codes", appid=appid)
    response = client.post("/api/v1/auth/login", json={"code": issued["code"], "appid": appid})
    assert response.status_code == 200, response.json
    return {**response.json, "openid": issued["openid"]}


_last_grant: dict[str, int] = {}


def grant(emulator, appid: str, openid: str) -> None:
    """The user accepts once; WeChat pushes it to the platform's message URL for this app.

    A push's replay key holds its CreateTime in seconds: a second popup of the same user within the
    same second would be WeChat's retry, so the next one waits for the next second."""
    while _last_grant.get(openid) == int(time.time()):
        time.sleep(0.05)
    _last_grant[openid] = int(time.time())
    answer = emulator.control("POST", "/popup", appid=appid, openid=openid, results={T1: "accept"})
    assert answer["push_status"] == 200


def send(client, appid: str, user_id: int, headers=API_KEY):
    body = {"appid": appid, "user_id": user_id, "template_id": T1, "data": GOOD_DATA}
    return client.post("/api/v1/messages", json=body, headers=headers)


def test_three_merchants_authorize_log_in_and_send_one_revokes_and_comes_back(app, client, emulator, platform):
    users = {}
    for appid in MERCHANTS:  # one after another, each usable at once
        authorize(app, emulator, appid)
        users[appid] = log_in(client, emulator, appid)
        grant(emulator, appid, users[appid]["openid"])
        response = send(client, appid, users[appid]["user"]["id"])
        assert response.status_code == 201, response.json
    # The platform's refresh tokens are sealed at rest, never in clear.
    row = app_row(app, MERCHANTS[0])
    assert row.refresh_token.startswith("v1.") and "refreshtoken@@@" not in row.refresh_token
    assert row.func_ids == [18]

    # The second merchant revokes: its sends are refused at once, without a WeChat call; the others go on.
    revoked = MERCHANTS[1]
    grant(emulator, revoked, users[revoked]["openid"])  # a credit held across the revoke
    emulator.control("POST", "/component/revoke", appid=revoked)
    sends_before = len(emulator.calls("subscribe_send"))
    details = assert_error(send(client, revoked, users[revoked]["user"]["id"]), 409, "app_unauthorized")
    assert details["appid"] == revoked
    assert len(emulator.calls("subscribe_send")) == sends_before
    old_session = {"Authorization": f"Bearer {users[revoked]['token']}"}
    assert_error(client.get("/api/v1/me", headers=old_session), 401, "unauthorized")  # sessions end with it
    issued = emulator.control("POST", "/login_codes", appid=revoked)
    login = client.post("/api/v1/auth/login", json={"code": issued["code"], "appid": revoked})
    assert_error(login, 409, "app_unauthorized")
    for appid in (MERCHANTS[0], MERCHANTS[2]):
        grant(emulator, appid, users[appid]["openid"])
        assert send(client, appid, users[appid]["user"]["id"]).status_code == 201

    # It authorizes again: the session of before the revoke stays dead, its credit is kept, and the
    # next send refreshes the authorizer token once (the token the emulator issued before is dead).
    authorize(app, emulator, revoked)
    assert client.get("/api/v1/me", headers=old_session).status_code == 401
    refreshes = len(emulator.calls("api_authorizer_token")) + len(emulator.calls("api_query_auth"))
    response = send(client, revoked, users[revoked]["user"]["id"])
    assert response.status_code == 201, response.json
    after = len(emulator.calls("api_authorizer_token")) + len(emulator.calls("api_query_auth"))
    assert after - refreshes <= 1


def test_reauthorization_kills_the_live_token_and_the_next_send_refreshes_once(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    user = log_in(client, emulator, appid)
    grant(emulator, appid, user["openid"])
    assert send(client, appid, user["user"]["id"]).status_code == 201
    grant(emulator, appid, user["openid"])
    # Re-authorized without the backend hearing of it (the push is lost): the live token dies (40001).
    emulator.control("POST", "/component/authorize", appid=appid, push=False)
    refreshes = len(emulator.calls("api_authorizer_token"))
    response = send(client, appid, user["user"]["id"])
    # 40001 → one refresh with the stored refresh token, which the re-authorization replaced: 61023 →
    # recovered from the authorizer list → sent.
    assert response.status_code == 201, response.json
    assert 1 <= len(emulator.calls("api_authorizer_token")) - refreshes <= 2
    assert len(emulator.calls("api_get_authorizer_list")) == 1


def test_an_app_without_set_18_is_listed_but_refuses_sends_and_log_ins(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid, func_ids=(17,))
    issued = emulator.control("POST", "/login_codes", appid=appid)
    calls = len(emulator.calls())
    login = client.post("/api/v1/auth/login", json={"code": issued["code"], "appid": appid})
    details = assert_error(login, 409, "app_unauthorized")
    assert details["state"] == "no set 18"
    assert len(emulator.calls()) == calls  # decided here, no WeChat call


def test_a_lost_refresh_token_is_recovered_by_wx_component_recover(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    user = log_in(client, emulator, appid)
    grant(emulator, appid, user["openid"])
    # The token the backend holds dies and its refresh token is no longer valid (61023), while the
    # authorizer list can't be read (61004): the refresh token is marked lost.
    emulator.control("POST", "/component/refresh_tokens/replace", appid=appid)
    emulator.control("POST", "/tokens/invalidate", appid=appid)
    emulator.fault(api="api_get_authorizer_list", errcode=61004)
    response = send(client, appid, user["user"]["id"])
    assert response.status_code == 503, response.json
    assert "whitelist" in response.json["error"]["message"]  # 61004: add this machine's IP
    assert app_row(app, appid).refresh_token_lost_at is None  # a failing list call marks nothing lost
    with app.app_context():  # the self-recovery waits 10 minutes per app: the next send finds it lost
        db.session.execute(sa.update(AuthorizedApp).values(recovered_at=utcnow()))
        db.session.commit()
    response = send(client, appid, user["user"]["id"])
    details = assert_error(response, 503, "service_unavailable")
    assert details["appid"] == appid and "wx component recover" in response.json["error"]["message"]
    assert app_row(app, appid).refresh_token_lost_at is not None

    emulator.control("DELETE", "/faults")
    result = app.test_cli_runner().invoke(args=["wx", "component", "recover"])
    assert result.exit_code == 0, result.output
    assert appid in result.output
    assert app_row(app, appid).refresh_token_lost_at is None
    grant(emulator, appid, user["openid"])
    assert send(client, appid, user["user"]["id"]).status_code == 201


def test_tokens_still_come_after_a_ticket_push_missed_for_11_hours(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    emulator.control("POST", "/clock", advance=11 * 3600)  # every token has expired; no push since
    user = log_in(client, emulator, appid)  # a new component token from the 11-hour-old ticket
    assert user["user"]["id"]
    emulator.control("POST", "/clock", advance=2 * 3600)  # now past the ticket's 12 hours: 61005
    issued = emulator.control("POST", "/login_codes", appid=appid)
    response = client.post("/api/v1/auth/login", json={"code": issued["code"], "appid": appid})
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"]
    assert len(emulator.calls("api_start_push_ticket")) == 1
    wait_for(lambda: (ticket := _ticket(app)) is not None and ticket.bad_since is None)  # the push came
    assert log_in(client, emulator, appid)["user"]["id"]


def _ticket(app) -> ComponentTicket | None:
    with app.app_context():
        row = db.session.scalar(sa.select(ComponentTicket))
        db.session.expunge_all()
        return row


def test_keys_act_for_their_merchant_only(app, client, emulator, platform):
    first, second = MERCHANTS[0], MERCHANTS[1]
    for appid in (first, second):
        authorize(app, emulator, appid)
    user_of_second = log_in(client, emulator, second)
    runner = app.test_cli_runner()
    added = runner.invoke(args=["wx", "keys", "add", "--app", first])
    assert added.exit_code == 0, added.output
    key = next(word for word in added.output.split() if word.startswith("wxk_"))
    mine = {"X-Api-Key": key}
    assert_error(client.get(f"/api/v1/users/{user_of_second['user']['id']}", headers=mine), 404, "user_not_found")
    assert_error(send(client, second, user_of_second["user"]["id"], headers=mine), 403, "forbidden")
    by_openid = {"openid": user_of_second["openid"]}
    assert client.get("/api/v1/users", query_string=by_openid, headers=mine).json["users"] == []
    assert len(client.get("/api/v1/users", query_string=by_openid, headers=API_KEY).json["users"]) == 1
    listed = runner.invoke(args=["wx", "keys", "list"])
    key_id = next(word for word in listed.output.split() if word.startswith("key_"))
    assert key not in listed.output  # shown once, stored as a hash
    assert runner.invoke(args=["wx", "keys", "revoke", key_id]).exit_code == 0
    assert_error(client.get("/api/v1/users", query_string=by_openid, headers=mine), 401, "unauthorized")


def test_pushes_to_the_platform_are_verified_with_its_keys(app, client, emulator, platform):
    # An `authorized` push for an app: the app is unknown until its tokens were fetched, then listed.
    authorize(app, emulator, MERCHANTS[0])
    result = app.test_cli_runner().invoke(args=["wx", "apps"])
    assert f"{MERCHANTS[0]}  authorized" in result.output
    # Unsigned: refused, nothing recorded.
    response = client.post("/wechat/component/auth", data=b"<xml></xml>", content_type="text/xml")
    assert response.status_code == 403
    # A push for an app the backend doesn't know, in the platform's keys: success, nothing recorded.
    stranger = "wxm00000000000unknown"
    emulator.control("POST", "/component/authorize", appid=stranger, push=False)
    emulator.control("POST", "/templates", appid=stranger, **ONE_TIME)
    openid = emulator.control("POST", "/users", appid=stranger)["openid"]
    answer = emulator.control("POST", "/popup", appid=stranger, openid=openid, results={T1: "accept"})
    assert answer["push_status"] == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.app_id == stranger)) == 0


def test_the_authorization_link_redirects_to_wechat_with_a_fresh_pre_auth_code(app, client, emulator, platform):
    response = client.get("/wechat/component/authorize", base_url="https://platform.example.com")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert location.startswith("https://mp.weixin.qq.com/cgi-bin/componentloginpage?")
    assert "auth_type=2" in location and "pre_auth_code=preauthcode" in location
    assert "redirect_uri=https%3A%2F%2Fplatform.example.com%2Fwechat%2Fcomponent%2Fauthorized" in location
    pre_auth_code = location.split("pre_auth_code=")[1].split("&")[0]
    code = emulator.control(
        "POST", "/component/authorize", appid=MERCHANTS[2], pre_auth_code=unquote(pre_auth_code), push=False
    )["authorization_code"]
    page = client.get(
        "/wechat/component/authorized", query_string={"auth_code": code}, headers={"Accept-Language": "zh-CN"}
    )
    assert page.status_code == 200 and MERCHANTS[2] in page.text and "已授权" in page.text
    assert app_row(app, MERCHANTS[2]).state == "authorized"


def test_no_ticket_yet_answers_503_with_retry_after_and_never_calls_for_a_token(app, client, emulator):
    emulator.control("POST", "/component/authorize", appid=MERCHANTS[0], push=False)
    response = client.get("/wechat/component/authorize")
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert emulator.calls("api_component_token") == []
    # Log-in for an appid never authorized: 404 without a WeChat call.
    assert_error(client.post("/api/v1/auth/login", json={"code": "x", "appid": MERCHANTS[0]}), 404, "app_not_found")


def test_two_processes_refreshing_one_authorizer_token_make_one_wechat_call(
    app, database_url, emulator, platform, latency
):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    other = create_app(platform_config(database_url, emulator.url))  # a second process's registry and clients
    emulator.control("POST", "/tokens/invalidate", appid=appid)
    before = len(emulator.calls("api_authorizer_token"))
    clients = [flask_app.extensions["apps"].get(appid).client for flask_app in (app, other)]
    dead = [client.tokens.get() for client in clients]
    assert dead[0] == dead[1]  # both hold the one shared token, now dead at WeChat
    barrier = threading.Barrier(2)

    def refresh(client):
        barrier.wait()
        client.tokens.invalidate(dead[0])  # each saw 40001: compare-then-expire
        return client.tokens.get()

    with ThreadPoolExecutor(2) as pool:
        fresh = list(pool.map(refresh, clients))
    assert fresh[0] == fresh[1] != dead[0]
    assert len(emulator.calls("api_authorizer_token")) - before == 1
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def latency(emulator):
    emulator.control("POST", "/latency", ms=100)  # a refresh takes a while: the other process waits for it


def test_a_revoke_fails_the_apps_queued_and_scheduled_messages_at_once(app, client, emulator, platform):
    appid, other = MERCHANTS[0], MERCHANTS[1]
    for merchant in (appid, other):
        authorize(app, emulator, merchant)
    users = {merchant: log_in(client, emulator, merchant) for merchant in (appid, other)}
    in_a_day = datetime.now(UTC) + timedelta(days=1)
    later = {"send_at": in_a_day.isoformat()}
    ids = {}
    for merchant in (appid, other):
        body = {"appid": merchant, "user_id": users[merchant]["user"]["id"], "template_id": T1, "data": GOOD_DATA}
        response = client.post("/api/v1/messages", json={**body, **later}, headers=API_KEY)
        assert response.status_code == 202, response.json
        ids[merchant] = response.json["id"]
    emulator.control("POST", "/component/revoke", appid=appid)
    gone = client.get(f"/api/v1/messages/{ids[appid]}", headers=API_KEY).json
    assert (gone["status"], gone["outcome"]) == ("failed", "app_unauthorized")
    kept = client.get(f"/api/v1/messages/{ids[other]}", headers=API_KEY).json
    assert kept["status"] == "scheduled"


def test_a_push_whose_decrypted_appid_is_not_the_platforms_is_refused(app, client, emulator, platform):
    authorize(app, emulator, MERCHANTS[0])
    target = PushTarget(
        url="",
        token=DEFAULT_COMPONENT["token"],
        appid=MERCHANTS[0],  # encrypted for the merchant's appid, not the platform's
        encoding_aes_key=DEFAULT_COMPONENT["encoding_aes_key"],
        format="xml",
        mode="safe",
    )
    message = event_message(
        "o" + "x" * 27,
        "subscribe_msg_popup_event",
        [{"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": 0}],
    )
    query, body, content_type = signed_request(target, message)
    response = client.post(
        f"/wechat/component/push/{MERCHANTS[0]}", query_string=query, data=body.encode(), content_type=content_type
    )
    assert_error(response, 403, "push_refused")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_the_platforms_urls_answer_as_the_document_says(app, client, emulator, platform):
    from tests.test_openapi import Conformance

    conforms = Conformance(app, client)
    redirect = client.get("/wechat/component/authorize")
    conforms(redirect, "GET", "/wechat/component/authorize", 302)
    pre_auth_code = parse_qs(urlsplit(redirect.headers["Location"]).query)["pre_auth_code"][0]
    code = emulator.control(
        "POST", "/component/authorize", appid=MERCHANTS[0], pre_auth_code=pre_auth_code, push=False
    )["authorization_code"]
    done = client.get("/wechat/component/authorized", query_string={"auth_code": code})
    assert MERCHANTS[0] in conforms(done, "GET", "/wechat/component/authorized", 200).text
    again = client.get("/wechat/component/authorized", query_string={"auth_code": code})  # used already
    conforms(again, "GET", "/wechat/component/authorized", 400)

    ticket = {"AppId": DEFAULT_COMPONENT["appid"], "CreateTime": "1", "InfoType": "component_verify_ticket"}
    query, body = _auth_event({**ticket, "ComponentVerifyTicket": "ticket@@@from-the-test"})
    pushed = client.post("/wechat/component/auth", query_string=query, data=body, content_type="text/xml")
    conforms(pushed, "POST", "/wechat/component/auth", 200)
    assert _ticket(app).ticket == "ticket@@@from-the-test"

    openid = emulator.control("POST", "/users", appid=MERCHANTS[0])["openid"]
    emulator.control("POST", "/templates", appid=MERCHANTS[0], **ONE_TIME)
    target = PushTarget(
        url="",
        token=DEFAULT_COMPONENT["token"],
        appid=DEFAULT_COMPONENT["appid"],
        encoding_aes_key=DEFAULT_COMPONENT["encoding_aes_key"],
        format="json",
        mode="safe",
    )
    item = {"TemplateId": T1, "SubscribeStatusString": "accept", "PopupScene": 0}
    query, body, content_type = signed_request(target, event_message(openid, "subscribe_msg_popup_event", [item]))
    url = f"/wechat/component/push/{MERCHANTS[0]}"
    pushed = client.post(url, query_string=query, data=body.encode(), content_type=content_type)
    conforms(pushed, "POST", "/wechat/component/push/{appid}", 200)


def _auth_event(message: dict) -> tuple[dict, bytes]:
    """A push to the authorization event URL as WeChat makes it: XML, encrypted, signed with the platform's Token."""
    from wxemu import crypto

    token, key, appid = (DEFAULT_COMPONENT[name] for name in ("token", "encoding_aes_key", "appid"))
    inner = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in message.items()) + "</xml>"
    encrypted = crypto.encrypt(key, appid, inner)
    timestamp, nonce = str(int(time.time())), "12345"
    query = {
        "signature": crypto.sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": crypto.sign(token, timestamp, nonce, encrypted),
    }
    return query, f"<xml><AppId>{appid}</AppId><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()


def test_doctor_names_the_platforms_ticket_whitelist_and_lost_refresh_tokens(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    with app.app_context():
        db.session.execute(sa.update(AuthorizedApp).values(refresh_token_lost_at=utcnow()))
        db.session.commit()
    emulator.fault(api="api_component_token", errcode=61004)
    with app.app_context():  # the platform's checks (the rest of wx doctor is tests/test_doctor.py's)
        findings = list(doctor.check_platform(app, schema=True))
    lines = [item.line("en") for item in findings]
    assert lines[0].startswith("ok   platform ticket: received")
    assert lines[1] == "FAIL platform token: errcode 61004: add this machine's IP to the platform's whitelist"
    assert f"refresh token lost for {appid}: run flask --app wsgi wx component recover" in lines[2]
    assert "1 authorized, 0 frozen, 0 without set 18" in lines[2]
    assert "请把本机 IP 加入第三方平台的白名单" in findings[1].line("zh-CN")


def test_wx_apps_and_the_dashboard_give_each_merchant_one_state_word(app, client, emulator, platform):
    authorize(app, emulator, MERCHANTS[0])
    authorize(app, emulator, MERCHANTS[1], func_ids=(17,))
    authorize(app, emulator, MERCHANTS[2])
    emulator.control("POST", "/component/revoke", appid=MERCHANTS[2])
    lines = app.test_cli_runner().invoke(args=["wx", "apps"]).output.splitlines()
    assert [line.split("  ")[:2] for line in lines] == [
        [MERCHANTS[0], "authorized"],
        [MERCHANTS[1], "no set 18"],
        [MERCHANTS[2], "frozen"],
    ]
    with app.test_request_context():
        shown = stats.dashboard(7)["apps"]
    assert [(item["appid"], item["state"]) for item in shown] == [
        (MERCHANTS[0], "authorized"),
        (MERCHANTS[1], "no set 18"),
        (MERCHANTS[2], "frozen"),
    ]


def test_a_merchants_user_shares_a_phone_number_through_the_authorizer_token(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    user = log_in(client, emulator, appid)
    code = emulator.control("POST", "/phone_codes", appid=appid, openid=user["openid"], phone_number="13800138000")[
        "code"
    ]
    auth = {"Authorization": f"Bearer {user['token']}"}
    response = client.post("/api/v1/auth/phone", json={"code": code}, headers=auth)
    assert response.status_code == 200, response.json
    assert response.json["pure_phone_number"] == "13800138000"
    phone_calls = emulator.calls("getuserphonenumber")
    assert phone_calls and phone_calls[-1]["errcode"] == 0


PLATFORM_ENVIRONMENT = {
    "WX_COMPONENT_APPID": DEFAULT_COMPONENT["appid"],
    "WX_COMPONENT_SECRET": DEFAULT_COMPONENT["secret"],
    "WX_COMPONENT_TOKEN": DEFAULT_COMPONENT["token"],
    "WX_COMPONENT_AES_KEY": DEFAULT_COMPONENT["encoding_aes_key"],
}


def test_a_platform_without_an_app_of_its_own_is_not_dev_mode():
    from backend.config import load_config
    from backend.settings import ConfigError

    with pytest.raises(ConfigError, match="^SECRET_KEY"):
        load_config({**PLATFORM_ENVIRONMENT, "SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="^DATA_KEY is required outside dev mode .* refresh tokens"):
        load_config({**PLATFORM_ENVIRONMENT, "SECRET_KEY": "k" * 40})
    with pytest.raises(ConfigError, match="^WX_COMPONENT_TOKEN is not set"):
        load_config({**PLATFORM_ENVIRONMENT, "WX_COMPONENT_TOKEN": "", "SECRET_KEY": "k" * 40, "DATA_KEY": DATA_KEY})
    config = load_config({**PLATFORM_ENVIRONMENT, "SECRET_KEY": "k" * 40, "DATA_KEY": DATA_KEY})
    assert config["DEV_MODE"] is False and config["COMPONENT_UNAUTHORIZED_RETAIN_DAYS"] == 30


def test_the_apps_file_may_hold_the_platform(tmp_path):
    from backend.apps import app_settings, component_settings

    path = tmp_path / "apps.toml"
    path.write_text("[component]\n" + "".join(f'{key} = "{DEFAULT_COMPONENT[key]}"\n' for key in DEFAULT_COMPONENT))
    config = {"WX_APPS_FILE": str(path), "BUSINESS_API_KEYS": [], "WX_MINIPROGRAM_STATE": "formal"}
    assert component_settings(config).appid == DEFAULT_COMPONENT["appid"]
    assert app_settings(config) == []  # the merchants' apps come from their authorizations


def test_a_merchant_taking_set_18_back_is_refused_at_once_and_granting_it_again_works(app, client, emulator, platform):
    appid = MERCHANTS[0]
    authorize(app, emulator, appid)
    user = log_in(client, emulator, appid)
    authorize(app, emulator, appid, func_ids=(17,))  # updateauthorized: the sets are read again
    details = assert_error(send(client, appid, user["user"]["id"]), 409, "app_unauthorized")
    assert details["state"] == "no set 18"
    authorize(app, emulator, appid, func_ids=(17, 18))
    user = log_in(client, emulator, appid)
    grant(emulator, appid, user["openid"])
    assert send(client, appid, user["user"]["id"]).status_code == 201


def test_a_revoked_merchants_users_are_handed_to_the_erase_after_the_retention(app, client, emulator, platform):
    from backend.component import events

    appid, kept = MERCHANTS[0], MERCHANTS[1]
    for merchant in (appid, kept):
        authorize(app, emulator, merchant)
    users = [log_in(client, emulator, merchant)["user"]["id"] for merchant in (appid, appid, kept)]
    emulator.control("POST", "/component/revoke", appid=appid)
    with app.app_context():
        assert events.erase_users_of_revoked_apps(30) == []  # revoked today: kept for 30 days
        db.session.execute(
            sa.update(AuthorizedApp)
            .where(AuthorizedApp.appid == appid)
            .values(unauthorized_at=utcnow() - timedelta(days=31))
        )
        db.session.commit()
        assert events.erase_users_of_revoked_apps(30) == [appid]
        erased = db.session.scalars(sa.select(User.id).where(User.erased_at.is_not(None))).all()
        assert sorted(erased) == sorted(users[:2])  # the other merchant's user is untouched
        assert events.erase_users_of_revoked_apps(30) == []  # once


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL is not set")
def test_a_redis_flush_loses_no_refresh_token(database_url, emulator, serve_app):
    redis_url = os.environ["TEST_REDIS_URL"]
    with running_app(platform_config(database_url, emulator.url, REDIS_URL=redis_url)) as app:
        url = serve_app(app)
        emulator.control(
            "POST",
            "/component",
            auth_url=f"{url}/wechat/component/auth",
            message_url=f"{url}/wechat/component/push/$APPID$",
        )
        emulator.control("POST", "/component/ticket")
        client = app.test_client()
        appid = MERCHANTS[0]
        authorize(app, emulator, appid)
        user = log_in(client, emulator, appid)
        grant(emulator, appid, user["openid"])
        assert send(client, appid, user["user"]["id"]).status_code == 201
        redis.Redis.from_url(redis_url).flushdb()  # a Redis restart without persistence
        emulator.control("POST", "/tokens/invalidate", appid=appid)
        grant(emulator, appid, user["openid"])
        assert send(client, appid, user["user"]["id"]).status_code == 201  # a new token from the sealed one


def test_wx_component_authorize_completes_an_authorization_by_hand(app, emulator, platform):
    code = emulator.control("POST", "/component/authorize", appid=MERCHANTS[1], push=False)["authorization_code"]
    assert app_row(app, MERCHANTS[1]) is None  # unknown until completed
    result = app.test_cli_runner().invoke(args=["wx", "component", "authorize", "--code", code])
    assert result.exit_code == 0, result.output
    assert f"{MERCHANTS[1]} authorized: authorized" in result.output
    assert app_row(app, MERCHANTS[1]).func_ids == [18]
    again = app.test_cli_runner().invoke(args=["wx", "component", "authorize", "--code", code])  # used already
    assert again.exit_code == 1 and "61010" in again.output
