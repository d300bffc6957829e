"""Sending under today's WeChat error table (docs/wechat.md §10): 43108, 43107, 45168, 47001."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Message, Template
from backend.sending import send_lock
from tests.conftest import REDIS_URL
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, send
from tests.servers import backend_env, gunicorn
from wxemu.defaults import DEV_APPID

T1 = ONE_TIME["priTmplId"]


def body(user) -> dict:
    return {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}


def remaining(client, user) -> int:
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    return next(sub["remaining"] for sub in subs if sub["template_id"] == T1)


def succeeded(emulator) -> list[dict]:
    return [call for call in emulator.calls("subscribe_send") if call["errcode"] == 0]


# --- 43108: one send per openid in flight ----------------------------------------------

SENDS = 20


@pytest.mark.slow
@pytest.mark.parametrize("store", ["database", pytest.param("redis", marks=pytest.mark.redis)])
def test_20_concurrent_sends_to_one_user_all_arrive(app, client, emulator, user, templates, database_url, store):
    """The emulator answers 43108 to overlapping sends; the backend never lets two overlap."""
    if store == "redis" and not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    accept(client, emulator, user, times=SENDS)
    emulator.control("POST", "/latency", ms=30)  # each send in flight long enough to be overlapped
    extra = {"REDIS_URL": REDIS_URL} if store == "redis" else {}
    env = backend_env(database_url, emulator.url, SEND_LOCK_WAIT="60", **extra)
    start = threading.Barrier(SENDS)

    with gunicorn(env, workers=2, threads=8) as server:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=SENDS))

        def one_send(_):
            start.wait()
            response = session.post(f"{server.url}/api/v1/messages", json=body(user), headers=API_KEY, timeout=120)
            return response.status_code

        with ThreadPoolExecutor(SENDS) as pool:
            statuses = list(pool.map(one_send, range(SENDS)))

    assert statuses == [201] * SENDS
    assert len(succeeded(emulator)) == SENDS
    assert [c for c in emulator.calls("subscribe_send") if c["errcode"] == 43108] == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Message.status == "sent")) == SENDS
        assert db.session.scalar(sa.select(sa.func.count()).where(Message.status == "failed")) == 0


def test_43108_is_retried_it_sent_nothing(client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=43108, times=2)
    response = send(client, body(user))
    assert response.status_code == 201, response.json
    assert [c["errcode"] for c in emulator.calls("subscribe_send")] == [43108, 43108, 0]


def test_43108_after_three_retries_is_503_and_returns_the_credit(client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=43108, times=None)
    details = assert_error(send(client, body(user)), 503, "wechat_unavailable")
    assert details["errcode"] == 43108
    assert len(emulator.calls("subscribe_send")) == 4  # the call and its 3 retries
    assert remaining(client, user) == 1


def test_no_turn_in_time_is_503_without_calling_wechat_and_returns_the_credit(app, client, emulator, user, templates):
    accept(client, emulator, user)
    app.config["SEND_LOCK_WAIT"] = 0.05
    with app.app_context(), send_lock.openid_turn(app.extensions["apps"].only().client.appid, user.openid):
        assert_error(send(client, body(user)), 503, "wechat_unavailable")
    assert emulator.calls("subscribe_send") == []
    assert remaining(client, user) == 1
    assert send(client, body(user)).status_code == 201  # the turn was given back


# --- 45168 and 47001: the request refused, the credit returned ---------------------------


def test_45168_sensitive_word_is_wechat_rejected_and_returns_the_credit(client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.control("POST", "/blacklist", words=["加多宝"])
    data = {**GOOD_DATA, "thing1": "加多宝凉茶"}
    details = assert_error(send(client, {**body(user), "data": data}), 422, "wechat_rejected")
    assert details["errcode"] == 45168
    assert remaining(client, user) == 1
    assert send(client, body(user)).status_code == 201


def test_47001_data_format_is_wechat_rejected_and_returns_the_credit(client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=47001, times=1)
    details = assert_error(send(client, body(user)), 422, "wechat_rejected")
    assert details["errcode"] == 47001
    assert remaining(client, user) == 1


# --- 43107: the template banned until a sync lists it again ---------------------------------


def sync(app):
    result = app.test_cli_runner().invoke(args=["wx", "templates", "sync"])
    assert result.exit_code == 0, result.output


def test_43107_marks_the_template_and_refuses_without_wechat_until_sync(app, client, emulator, user, templates):
    accept(client, emulator, user, times=2)
    emulator.control("POST", f"/templates/{T1}/ban")
    details = assert_error(send(client, body(user)), 422, "template_banned")
    assert details["template_id"] == T1
    assert remaining(client, user) == 2
    with app.app_context():
        assert db.session.get(Template, (DEV_APPID, T1)).banned_at is not None
    [call] = emulator.calls("subscribe_send")
    assert call["errcode"] == 43107

    assert_error(send(client, body(user)), 422, "template_banned")
    assert len(emulator.calls("subscribe_send")) == 1  # refused here, WeChat not asked again
    assert remaining(client, user) == 2

    sync(app)  # still banned: WeChat's list leaves it out, the mark stays
    assert_error(send(client, body(user)), 422, "template_banned")
    assert len(emulator.calls("subscribe_send")) == 1

    emulator.control("POST", f"/templates/{T1}/unban")
    sync(app)
    with app.app_context():
        assert db.session.get(Template, (DEV_APPID, T1)).banned_at is None
    response = send(client, body(user))
    assert response.status_code == 201, response.json
    assert remaining(client, user) == 1


def test_a_banned_template_refuses_a_batch(app, client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.control("POST", f"/templates/{T1}/ban")
    assert_error(send(client, body(user)), 422, "template_banned")
    batch = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": user.openid}]}
    assert_error(client.post("/api/v1/batches", json=batch, headers=API_KEY), 422, "template_banned")
    assert len(emulator.calls("subscribe_send")) == 1
    assert remaining(client, user) == 1
