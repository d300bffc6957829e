"""Over HTTP: an error's message follows Accept-Language; its code and details do not."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from backend.consent import push
from backend.consent.push import SampledLog
from backend.extensions import db
from backend.i18n.zh_cn import MESSAGES as ZH
from backend.models import ConsentEvent
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, reconfigure, send
from wxemu.pusher import PushTarget, event_message, signed_request

BROWSER_ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
T1 = ONE_TIME["priTmplId"]


def assert_message(response, status: int, code: str, english: str, language: str) -> dict:
    """The error in `language` (en or zh-CN), saying so, and varying with the header."""
    details = assert_error(response, status, code)
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.vary
    assert response.json["error"]["message"] == (ZH[english] if language == "zh-CN" else english)
    return details


def body(user, **extra) -> dict:
    return {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, **extra}


@pytest.mark.parametrize(
    ("headers", "language"),
    [(BROWSER_ZH, "zh-CN"), ({}, "en"), ({"Accept-Language": "en-US"}, "en"), ({"Accept-Language": "zh-TW"}, "en")],
)
def test_401(client, headers, language):
    response = client.get("/api/v1/messages/msg_x", headers=headers)
    assert_message(response, 401, "unauthorized", "Send a valid business API key in X-Api-Key.", language)


def test_422_invalid_template_data_keeps_its_details_in_english(client, user, templates):
    bad = body(user, data={"thing1": "x" * 21, "time2": "15:01"})
    english = "Template data breaks WeChat's rules; nothing was sent."
    in_chinese = assert_message(send(client, bad, **BROWSER_ZH), 422, "invalid_template_data", english, "zh-CN")
    assert in_chinese == assert_message(send(client, bad), 422, "invalid_template_data", english, "en")


def test_409_consent_required(client, user, templates):
    english = "The user has no send credit for this template."
    assert_message(send(client, body(user), **BROWSER_ZH), 409, "consent_required", english, "zh-CN")
    assert_message(send(client, body(user), **{"Accept-Language": "en-US"}), 409, "consent_required", english, "en")


@pytest.mark.parametrize(("headers", "language"), [(BROWSER_ZH, "zh-CN"), ({}, "en")])
def test_404(client, headers, language):
    response = client.get("/api/v1/messages/msg_nope", headers={**API_KEY, **headers})
    assert_message(response, 404, "not_found", "No message with that id.", language)


def test_werkzeug_errors_too(client):
    """An unknown URL never reaches a view: Werkzeug's 404 goes through the same handler."""
    english = (
        "The requested URL was not found on the server. If you entered the URL manually please check your "
        "spelling and try again."
    )
    assert_message(client.get("/api/v1/nothing-here", headers=BROWSER_ZH), 404, "not_found", english, "zh-CN")


def test_a_message_with_parameters_in_chinese_is_logged_in_english(client, app, monkeypatch, caplog):
    monkeypatch.setattr(push, "refusal_log", SampledLog(10.0))  # logged, whatever was refused before
    reconfigure(app, WX_TOKEN="push-token")
    target = PushTarget(url="/wechat/push", token="push-token", appid=app.config["WX_APPID"])
    message = event_message("o1", "subscribe_msg_popup_event", [], 1700000000)
    query, raw, content_type = signed_request(target, message, timestamp=int(time.time()) - 301)
    response = client.post("/wechat/push", query_string=query, data=raw, content_type=content_type, headers=BROWSER_ZH)
    assert_error(response, 403, "push_refused")
    assert response.json["error"]["message"] == "推送的时间戳与本服务器时钟相差超过 300 秒。"
    [line] = [record for record in caplog.records if record.getMessage() == "push refused"]
    assert line.why == "The push timestamp is more than 300 s from our clock."  # logs stay English
    with app.app_context():  # and a refusal writes no row
        assert db.session.scalars(sa.select(ConsentEvent)).first() is None


def test_a_replay_keeps_the_first_answers_language(client, emulator, user, templates):
    """Stripe-like: a replay is the stored answer, whatever the retry's Accept-Language."""
    first = send(client, body(user), **{"Idempotency-Key": "zh-1", **BROWSER_ZH})
    accept(client, emulator, user)
    again = send(client, body(user), **{"Idempotency-Key": "zh-1", "Accept-Language": "en-US"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.status_code == again.status_code == 409 and first.json == again.json
    assert again.json["error"]["message"] == ZH["The user has no send credit for this template."]
    assert again.headers["Content-Language"] == "zh-CN"
    assert emulator.calls("subscribe_send") == []
