"""Log-in, phone numbers, logout and session tokens."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from backend.db import work
from backend.extensions import db
from backend.models import User
from backend.users import sessions
from tests.helpers import assert_error, log_in
from wxemu.defaults import DEV_APPID


def test_login_creates_the_user_and_keeps_session_key_on_the_server(client, emulator, app):
    issued = emulator.login_code(unionid="u-1")
    response = client.post("/api/v1/auth/login", json={"code": issued["code"]})
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["user"] == {"id": body["user"]["id"], "appid": DEV_APPID, "has_phone": False}
    assert "session_key" not in response.get_data(as_text=True)
    from backend.models import User

    with app.app_context():
        from backend.extensions import db

        user = db.session.get(User, body["user"]["id"])
        assert user.openid == issued["openid"] and user.unionid == "u-1" and user.session_key


def test_second_login_updates_the_same_user(client, emulator):
    first = log_in(client, emulator)
    again = log_in(client, emulator, openid=first.openid)
    assert again.id == first.id


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 401, "wechat_code_invalid"),
        (40163, 401, "wechat_code_invalid"),
        (40226, 403, "wechat_user_blocked"),
        (45011, 429, "rate_limited"),
        (-1, 503, "wechat_unavailable"),
    ],
)
def test_login_errors(client, emulator, errcode, status, code):
    emulator.fault(api="jscode2session", errcode=errcode, times=None)
    details = assert_error(client.post("/api/v1/auth/login", json={"code": "any"}), status, code)
    assert details["errcode"] == errcode


def test_reused_code_is_refused(client, emulator):
    code = emulator.login_code()["code"]
    assert client.post("/api/v1/auth/login", json={"code": code}).status_code == 200
    assert_error(client.post("/api/v1/auth/login", json={"code": code}), 401, "wechat_code_invalid")


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 123}, [], "x"])
def test_login_bad_body(client, body):
    assert_error(client.post("/api/v1/auth/login", json=body), 400, "invalid_request")


def test_login_broken_json(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("country_code", [86, "86"])
def test_phone_number_stored(client, emulator, user, country_code):
    code = emulator.control(
        "POST", "/phone_codes", openid=user.openid, phone_number="13800138000", country_code=country_code
    )["code"]
    response = client.post("/api/v1/auth/phone", json={"code": code}, headers=user.auth)
    assert response.status_code == 200
    assert response.json["pure_phone_number"] == "13800138000"
    assert response.json["country_code"] == "86"
    me = client.get("/api/v1/me", headers=user.auth).json
    assert me["has_phone"] is True and me["phone_number"] == response.json["phone_number"]


def test_phone_code_of_another_user_is_refused(client, emulator, user):
    other = emulator.control("POST", "/users")["openid"]
    code = emulator.control("POST", "/phone_codes", openid=other, phone_number="13800138000")["code"]
    response = client.post("/api/v1/auth/phone", json={"code": code}, headers=user.auth)
    assert response.status_code in (401, 503)
    assert client.get("/api/v1/me", headers=user.auth).json["has_phone"] is False


def test_invalid_phone_code(client, user):
    assert_error(
        client.post("/api/v1/auth/phone", json={"code": "nope"}, headers=user.auth), 401, "wechat_code_invalid"
    )


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"])
def test_bad_session_tokens(client, header):
    headers = {"Authorization": header} if header else {}
    assert_error(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_token_signed_with_another_key_is_refused(client, user):
    forged = URLSafeTimedSerializer("another-key", salt="wx-subscribe-session").dumps({"uid": user.id, "v": 0})
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized")


def test_expired_token_is_refused(client, user, monkeypatch):
    from backend.users import sessions

    monkeypatch.setattr(sessions, "SESSION_SECONDS", -1)
    assert_error(client.get("/api/v1/me", headers=user.auth), 401, "unauthorized")


def test_logout_voids_this_and_older_tokens(client, emulator, user):
    second = log_in(client, emulator, openid=user.openid)
    assert client.get("/api/v1/me", headers=user.auth).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=second.auth).status_code == 204
    assert_error(client.get("/api/v1/me", headers=user.auth), 401, "unauthorized")
    assert_error(client.get("/api/v1/me", headers=second.auth), 401, "unauthorized")
    assert client.get("/api/v1/me", headers=log_in(client, emulator, openid=user.openid).auth).status_code == 200


def test_a_logout_in_another_process_voids_tokens_within_the_bound(app, client, emulator, user, monkeypatch):
    """Each process trusts a token version it read for SESSION_VERSION_TTL seconds (docs/api.md):
    a logout made elsewhere and not heard (no Redis) takes effect within that bound."""
    ttl = app.config["SESSION_VERSION_TTL"]
    now = [1000.0]
    monkeypatch.setattr(sessions, "_clock", lambda: now[0])
    assert client.get("/api/v1/me", headers=user.auth).status_code == 200  # this process read the version
    with app.app_context(), work():  # another process's logout
        db.session.execute(sa.update(User).where(User.id == user.id).values(token_version=User.token_version + 1))
    now[0] += ttl - 0.1
    assert client.get("/api/v1/me", headers=user.auth).status_code == 200  # still within the bound
    now[0] += 0.2
    assert_error(client.get("/api/v1/me", headers=user.auth), 401, "unauthorized")
    assert ttl == sessions.VERSION_TTL <= 5


@pytest.mark.redis
def test_a_logout_is_heard_at_once_by_another_app_through_redis(database_url, emulator, monkeypatch):
    """Two apps (as two processes) with Redis: a logout in one makes the other forget the version it
    holds, though its cached version would never run out by itself here."""
    from tests.conftest import REDIS_URL, app_config, running_app

    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    monkeypatch.setattr(sessions, "_clock", lambda: 1000.0)
    config = app_config(database_url, emulator.url, REDIS_URL=REDIS_URL)
    with running_app(config) as here, running_app(config) as there:
        user = log_in(here.test_client(), emulator)
        other = there.test_client()
        assert other.get("/api/v1/me", headers=user.auth).status_code == 200  # starts `there`'s listener
        assert there.extensions["revocations_heard"].wait(10)  # subscribed (and every version forgotten)
        assert other.get("/api/v1/me", headers=user.auth).status_code == 200  # `there` holds the version
        assert here.test_client().post("/api/v1/auth/logout", headers=user.auth).status_code == 204
        for _ in range(400):  # the message's way through Redis: milliseconds (bounded wait, not a timing)
            if other.get("/api/v1/me", headers=user.auth).status_code == 401:
                break
            time.sleep(0.025)
        else:
            pytest.fail("the other app still takes a logged-out user's token")
        assert_error(other.get("/api/v1/me", headers=user.auth), 401, "unauthorized")


def test_a_logout_in_this_process_voids_tokens_at_once(client, emulator, user, monkeypatch):
    monkeypatch.setattr(sessions, "_clock", lambda: 1000.0)  # the cached version never runs out by itself
    assert client.post("/api/v1/subscriptions", json={"results": {}}, headers=user.auth).status_code in (200, 400)
    assert client.post("/api/v1/auth/logout", headers=user.auth).status_code == 204
    assert_error(client.get("/api/v1/me", headers=user.auth), 401, "unauthorized")
    assert_error(client.post("/api/v1/subscriptions", json={"results": {}}, headers=user.auth), 401, "unauthorized")
