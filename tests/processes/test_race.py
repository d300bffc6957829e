"""Concurrency: many processes spending one user's credits never spend one twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Message, Subscription
from tests.api.pushing import popup
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, TEST_DATA_KEY, accept
from tests.servers import backend_env, gunicorn
from tests.test_apps import (
    AES_A,
    AES_B,
    ALL_APPS_KEY,
    T1,
    TOKEN_A,
    TOKEN_B,
    A,
    B,
    log_in,
    push,
    two_apps,  # noqa: F401 - the fixture
    write,
)

CREDITS = 10
SENDERS = 40


@pytest.mark.slow
def test_40_concurrent_sends_spend_exactly_10_credits(app, client, emulator, user, templates, database_url):
    accept(client, emulator, user, times=CREDITS)
    body = {"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    start = threading.Barrier(SENDERS)

    with gunicorn(backend_env(database_url, emulator.url), workers=2, threads=8) as server:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=SENDERS))

        def one_send(_):
            start.wait()
            response = session.post(f"{server.url}/api/v1/messages", json=body, headers=API_KEY, timeout=60)
            return response.status_code, response.json()

        with ThreadPoolExecutor(SENDERS) as pool:
            results = list(pool.map(one_send, range(SENDERS)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * CREDITS + [409] * (SENDERS - CREDITS)
    assert {body["error"]["code"] for status, body in results if status == 409} == {"consent_required"}
    assert len(emulator.calls("subscribe_send")) == CREDITS
    assert len(emulator.control("GET", "/sent")) == CREDITS
    with app.app_context():
        assert db.session.scalar(sa.select(Subscription.remaining)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).where(Message.status == "sent")) == CREDITS


@pytest.mark.slow
def test_two_apps_at_once_spend_exactly_their_own_10_credits(two_apps, emulator, database_url, tmp_path):  # noqa: F811
    """40 sends per app at once, 80 in all, through gunicorn: each app spends its own 10 credits."""
    client = two_apps.test_client()
    openids = {}
    for appid, token, aes_key in ((A, TOKEN_A, AES_A), (B, TOKEN_B, AES_B)):
        openid = openids[appid] = log_in(client, emulator, appid, unionid="u-racer")["openid"]
        for n in range(CREDITS):
            emulator.control("POST", "/popup", appid=appid, openid=openid, results={T1: "accept"})
            granted = push(client, appid, popup(openid, (T1, "accept"), create_time=1700000000 + n), token, aes_key)
            assert granted.status_code == 200
    start = threading.Barrier(2 * SENDERS)
    env = backend_env(
        database_url,
        emulator.url,
        WX_APPS_FILE=write(tmp_path),
        BUSINESS_API_KEYS=ALL_APPS_KEY,
        SECRET_KEY="k" * 40,
        DATA_KEY=TEST_DATA_KEY,
    )

    with gunicorn(env, workers=2, threads=8) as server:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=2 * SENDERS))

        def one_send(appid):
            body = {"appid": appid, "openid": openids[appid], "template_id": T1, "data": GOOD_DATA}
            start.wait()
            response = session.post(
                f"{server.url}/api/v1/messages", json=body, headers={"X-Api-Key": ALL_APPS_KEY}, timeout=60
            )
            return appid, response.status_code

        with ThreadPoolExecutor(2 * SENDERS) as pool:
            results = list(pool.map(one_send, [A, B] * SENDERS))

    for appid in (A, B):
        statuses = sorted(status for sent_for, status in results if sent_for == appid)
        assert statuses == [201] * CREDITS + [409] * (SENDERS - CREDITS)
        sent = [call for call in emulator.calls("subscribe_send") if call["touser"] == openids[appid]]
        assert len(sent) == CREDITS
    with two_apps.app_context():
        assert db.session.scalars(sa.select(Subscription.remaining)).all() == [0, 0]
