"""Concurrency: many processes spending one user's credits never spend one twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Message, Subscription
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept
from tests.servers import backend_env, gunicorn

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
