"""Logs: one JSON object per line, with the request id; never a secret or a phone number."""

from __future__ import annotations

import json
import logging

import pytest

from backend.ops.logs import JsonFormatter
from tests.api.pushing import AES_KEY, TOKEN, popup, post
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, log_in, reconfigure, send
from wxemu.defaults import DEV_SECRET


@pytest.fixture
def log_lines():
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("backend", "backend.wechat", "backend.requests")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lines
    for logger in loggers:
        logger.removeHandler(handler)


def test_a_full_run_logs_no_secret(app, client, emulator, templates, log_lines):
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
    user = log_in(client, emulator)
    phone_code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number="13912345678")["code"]
    assert client.post("/api/v1/auth/phone", json={"code": phone_code}, headers=user.auth).status_code == 200
    accept(client, emulator, user, times=2)  # reports only record the choice while push is on
    for create_time in (1700000000, 1700000001):
        post(client, app, popup(user.openid, (ONE_TIME["priTmplId"], "accept"), create_time=create_time), mode="safe")
    post(client, app, popup(user.openid, (ONE_TIME["priTmplId"], "accept")), mode="plain")  # refused, and logged
    client.post("/api/v1/subscriptions", json={"results": {"x": "accept"}}, headers={"Authorization": "Bearer bad"})
    send(
        client,
        {"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA},
        **{"X-Request-Id": "trace-me-1"},
    )
    emulator.fault(api="subscribe_send", errcode=40001, times=None)
    send(client, {"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA})
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {user.token}"})

    wechat = app.extensions["apps"].only().client
    with app.app_context():
        from backend.extensions import db
        from backend.models import User

        session_key = db.session.get(User, user.id).session_key
    secrets = {
        "AppSecret": DEV_SECRET,
        "access token": wechat.tokens.get(),
        "session key": session_key,
        "API key": API_KEY["X-Api-Key"],
        "session token": user.token,
        "phone number": "13912345678",
        "push token": TOKEN,
        "EncodingAESKey": AES_KEY,
    }
    assert len(log_lines) > 20
    entries = [json.loads(line) for line in log_lines]  # every line is one JSON object
    text = "\n".join(log_lines)
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} reached a log line"
    requests_logged = [e for e in entries if e["logger"] == "backend.requests"]
    assert all({"request_id", "method", "path", "status", "duration_ms"} <= set(e) for e in requests_logged)
    traced = [e for e in entries if e.get("request_id") == "trace-me-1"]
    assert {e["logger"] for e in traced} >= {"backend.requests", "backend.wechat"}
    wechat_calls = [e for e in entries if e["message"] == "wechat call"]
    assert all("latency_ms" in e and "api" in e for e in wechat_calls)
    assert any(e.get("errcode") == 40001 for e in wechat_calls)
