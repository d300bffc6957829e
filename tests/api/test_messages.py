"""Sends: auth, body, template data, consent, then exactly one WeChat call per credit."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import ConsentEvent, IdempotencyRecord, Message
from tests.helpers import (
    API_KEY,
    ENUM_TEMPLATE,
    GOOD_DATA,
    LONG_TERM,
    ONE_TIME,
    accept,
    assert_error,
    reconfigure,
    report,
    send,
)

T1 = ONE_TIME["priTmplId"]


def body(user, **extra) -> dict:
    return {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, **extra}


def remaining(client, user, template_id=T1):
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    return next(sub["remaining"] for sub in subs if sub["template_id"] == template_id)


def test_send_spends_one_credit(client, emulator, user, templates):
    accept(client, emulator, user, times=2)
    response = send(client, body(user, page="pages/index/index", miniprogram_state="trial", lang="en_US"))
    assert response.status_code == 201
    assert response.json["status"] == "sent" and response.json["remaining"] == 1
    assert response.json["user_id"] == user.id and isinstance(response.json["wechat_msgid"], int)
    [call] = emulator.calls("subscribe_send")
    assert call["touser"] == user.openid and call["errcode"] == 0
    record = client.get(f"/api/v1/messages/{response.json['id']}", headers=API_KEY).json
    assert record["status"] == "sent" and record["wechat_msgid"] == response.json["wechat_msgid"]
    [sent] = emulator.control("GET", "/sent")
    assert sent["miniprogram_state"] == "trial" and sent["lang"] == "en_US"


def test_send_by_user_id_and_value_objects(client, emulator, user, templates):
    accept(client, emulator, user)
    data = {"thing1": {"value": "Kettle"}, "time2": {"value": "15:01"}}
    response = send(client, {"user_id": user.id, "template_id": T1, "data": data})
    assert response.status_code == 201


def test_no_credit_is_409_and_nothing_reaches_wechat(client, emulator, user, templates):
    details = assert_error(send(client, body(user)), 409, "consent_required")
    assert details["template_id"] == T1
    assert emulator.calls("subscribe_send") == []


def test_default_miniprogram_state_comes_from_config(client, app, emulator, user, templates):
    reconfigure(app, WX_MINIPROGRAM_STATE="developer")
    accept(client, emulator, user)
    send(client, body(user))
    assert emulator.control("GET", "/sent")[0]["miniprogram_state"] == "developer"


def test_long_term_sends_until_revoked(client, emulator, user, templates):
    accept(client, emulator, user, LONG_TERM["priTmplId"])
    long_term = {
        "openid": user.openid,
        "template_id": LONG_TERM["priTmplId"],
        "data": {"thing1": "Line 5", "phrase2": "已到站"},
    }
    for _ in range(3):
        response = send(client, long_term)
        assert response.status_code == 201 and response.json["remaining"] is None
    report(client, user, {LONG_TERM["priTmplId"]: "reject"})
    assert_error(send(client, long_term), 409, "consent_required")


def test_43101_sets_credits_to_zero(client, emulator, user, templates):
    accept(client, emulator, user, times=3)
    emulator.control("POST", "/settings", openid=user.openid, template_id=T1, status="reject")
    details = assert_error(send(client, body(user)), 409, "consent_revoked")
    assert details["errcode"] == 43101
    assert remaining(client, user) == 0
    record = client.get(f"/api/v1/messages/{details['message_id']}", headers=API_KEY).json
    assert record["status"] == "failed" and record["errcode"] == 43101
    assert_error(send(client, body(user)), 409, "consent_required")
    assert len(emulator.calls("subscribe_send")) == 1


@pytest.mark.parametrize(
    ("fault", "errcode"),
    [
        ({"errcode": 47003}, 47003),
        ({"errcode": 40037}, 40037),
        ({"errcode": 41030}, 41030),
        ({"errcode": 40003}, 40003),
    ],
)
def test_wechat_refusal_returns_the_credit(client, emulator, user, templates, fault, errcode):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", times=1, **fault)
    details = assert_error(send(client, body(user)), 422, "wechat_rejected")
    assert details["errcode"] == errcode
    assert remaining(client, user) == 1
    assert send(client, body(user)).status_code == 201


@pytest.mark.parametrize("errcode", [45009, 45011])
def test_wechat_quota_is_429_and_returns_the_credit(client, emulator, user, templates, errcode):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=errcode, times=1)
    assert_error(send(client, body(user)), 429, "rate_limited")
    assert remaining(client, user) == 1


def test_wechat_down_is_503_after_bounded_retries_and_returns_the_credit(client, emulator, user, templates):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=-1, times=None)
    assert_error(send(client, body(user)), 503, "wechat_unavailable")
    assert len(emulator.calls("subscribe_send")) == 3
    assert remaining(client, user) == 1


def test_timeout_after_sending_is_unknown_and_keeps_the_credit_spent(client, app, emulator, user, templates):
    accept(client, emulator, user, times=2)
    app.extensions["apps"].only().client.timeout = (1.0, 0.5)
    emulator.fault(api="subscribe_send", late_ms=1500, times=1)
    details = assert_error(send(client, body(user)), 502, "wechat_unavailable")
    assert details["status"] == "unknown"
    assert remaining(client, user) == 1
    record = client.get(f"/api/v1/messages/{details['message_id']}", headers=API_KEY).json
    assert record["status"] == "unknown"
    assert len(emulator.control("GET", "/sent")) == 1


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"thing1": "x" * 21, "time2": "15:01"}, "thing1"),
        ({"thing1": "Kettle", "time2": "25:61"}, "time2"),
        ({"thing1": "Kettle"}, "time2"),
        ({"thing1": "Kettle", "time2": "15:01", "thing9": "extra"}, "thing9"),
        ({"thing1": "", "time2": "15:01"}, "thing1"),
        ({"thing1": 5, "time2": "15:01"}, "thing1"),
    ],
)
def test_bad_values_are_422_before_consent_and_cost_nothing(client, emulator, user, templates, data, key):
    accept(client, emulator, user)
    details = assert_error(send(client, body(user, data=data)), 422, "invalid_template_data")
    assert key in details
    assert remaining(client, user) == 1 and emulator.calls("subscribe_send") == []


def test_values_checked_even_without_consent(client, user, templates):
    assert_error(send(client, body(user, data={"thing1": "x" * 21, "time2": "15:01"})), 422, "invalid_template_data")


def test_enum_values_come_from_the_template(client, emulator, user, templates):
    template_id = ENUM_TEMPLATE["priTmplId"]
    accept(client, emulator, user, template_id)
    bad = {"openid": user.openid, "template_id": template_id, "data": {"time1": "15:01", "enum_string2": "Garden"}}
    assert "enum_string2" in assert_error(send(client, bad), 422, "invalid_template_data")
    good = {**bad, "data": {"time1": "15:01", "enum_string2": "Balcony"}}
    assert send(client, good).status_code == 201


def test_truncate_shortens_long_things(client, emulator, user, templates):
    accept(client, emulator, user)
    long = "一二三四五六七八九十一二三四五六七八九十多"
    response = send(client, body(user, data={"thing1": long, "time2": "15:01"}, truncate=True))
    assert response.status_code == 201
    value = emulator.control("GET", "/sent")[0]["data"]["thing1"]["value"]
    assert len(value) == 20 and value.endswith("…")


def test_unsynced_template_types_come_from_key_names(client, emulator, user):
    emulator.template(
        priTmplId="tmpl-later",
        title="Later",
        type=2,
        keywords=[{"key": "thing1", "name": "x"}, {"key": "number2", "name": "n"}],
    )
    report(client, user, {"tmpl-later": "accept"})
    bad = {"openid": user.openid, "template_id": "tmpl-never-synced", "data": {"number2": "abc"}}
    assert "number2" in assert_error(send(client, bad), 422, "invalid_template_data")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"openid": "o-nobody", "template_id": T1, "data": GOOD_DATA}, 404, "user_not_found"),
        ({"user_id": 999999, "template_id": T1, "data": GOOD_DATA}, 404, "user_not_found"),
        ({"template_id": T1, "data": GOOD_DATA}, 400, "invalid_request"),
        ({"openid": "o1", "user_id": 1, "template_id": T1, "data": GOOD_DATA}, 400, "invalid_request"),
        ({"openid": "o1", "data": GOOD_DATA}, 400, "invalid_request"),
        ({"openid": "o1", "template_id": T1}, 400, "invalid_request"),
        ({"openid": "o1", "template_id": T1, "data": GOOD_DATA, "lang": "fr"}, 400, "invalid_request"),
        ({"openid": "o1", "template_id": T1, "data": GOOD_DATA, "miniprogram_state": "x"}, 400, "invalid_request"),
        ({"openid": "o1", "template_id": T1, "data": GOOD_DATA, "surprise": 1}, 400, "invalid_request"),
        ({"user_id": "1", "template_id": T1, "data": GOOD_DATA}, 400, "invalid_request"),
        ({"user_id": True, "template_id": T1, "data": GOOD_DATA}, 400, "invalid_request"),
    ],
)
def test_bad_requests(client, user, templates, payload, status, code):
    assert_error(send(client, payload), status, code)


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}])
def test_api_key_required(client, headers, user):
    response = client.post("/api/v1/messages", json=body(user), headers=headers)
    assert_error(response, 401, "unauthorized")
    assert_error(client.get("/api/v1/messages/msg_x", headers=headers), 401, "unauthorized")


def test_unknown_message_is_404(client):
    assert_error(client.get("/api/v1/messages/msg_nope", headers=API_KEY), 404, "not_found")


class TestIdempotency:
    def test_same_key_same_body_replays_and_sends_once(self, client, emulator, user, templates):
        accept(client, emulator, user, times=2)
        first = send(client, body(user), **{"Idempotency-Key": "order-1"})
        again = send(client, body(user), **{"Idempotency-Key": "order-1"})
        assert first.status_code == again.status_code == 201 and first.json == again.json
        assert len(emulator.calls("subscribe_send")) == 1
        assert remaining(client, user) == 1

    def test_same_key_other_body_is_a_conflict(self, client, emulator, user, templates):
        accept(client, emulator, user, times=2)
        send(client, body(user), **{"Idempotency-Key": "order-2"})
        other = body(user, data={"thing1": "Other", "time2": "15:01"})
        assert_error(send(client, other, **{"Idempotency-Key": "order-2"}), 422, "idempotency_conflict")

    def test_errors_are_replayed_too(self, client, emulator, user, templates):
        first = send(client, body(user), **{"Idempotency-Key": "order-3"})
        accept(client, emulator, user)
        again = send(client, body(user), **{"Idempotency-Key": "order-3"})
        assert first.status_code == again.status_code == 409
        assert emulator.calls("subscribe_send") == []

    def test_unavailable_is_not_kept_so_a_retry_sends(self, client, emulator, user, templates):
        accept(client, emulator, user)
        emulator.fault(api="subscribe_send", errcode=-1, times=3)
        assert send(client, body(user), **{"Idempotency-Key": "order-4"}).status_code == 503
        assert send(client, body(user), **{"Idempotency-Key": "order-4"}).status_code == 201

    def test_keys_are_per_api_key(self, client, app, emulator, user, templates):
        reconfigure(app, BUSINESS_API_KEYS=["test-api-key", "other-key"])
        accept(client, emulator, user, times=2)
        send(client, body(user), **{"Idempotency-Key": "k"})
        response = client.post(
            "/api/v1/messages", json=body(user), headers={"X-Api-Key": "other-key", "Idempotency-Key": "k"}
        )
        assert response.status_code == 201
        assert len(emulator.calls("subscribe_send")) == 2


def test_ledger_audit_records_spend_and_refund(client, app, emulator, user, templates):
    accept(client, emulator, user)
    emulator.fault(api="subscribe_send", errcode=47003, times=1)
    send(client, body(user))
    with app.app_context():
        events = db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.source == "send")).all()
        assert [(e.result, e.credits_delta) for e in events] == [("spent", -1), ("refunded", 1)]
        assert db.session.scalar(sa.select(Message.status)) == "failed"


def test_surrounding_spaces_are_not_sent(client, emulator, user, templates):
    accept(client, emulator, user)
    padded = {"thing1": "  " + "x" * 20 + "  ", "time2": " 15:01 "}
    assert send(client, body(user, data=padded)).status_code == 201
    assert emulator.control("GET", "/sent")[0]["data"]["thing1"]["value"] == "x" * 20


def test_operators_list_unknown_messages(client, app, emulator, user, templates):
    accept(client, emulator, user, times=2)
    app.extensions["apps"].only().client.timeout = (1.0, 0.5)
    emulator.fault(api="subscribe_send", late_ms=1500, times=1)
    unknown_id = send(client, body(user)).json["error"]["details"]["message_id"]
    assert send(client, body(user)).status_code == 201
    page = client.get("/api/v1/messages", query_string={"status": "unknown"}, headers=API_KEY).json
    assert [item["id"] for item in page["items"]] == [unknown_id] and page["next_cursor"] is None
    result = app.test_cli_runner().invoke(args=["wx", "unknown"])
    assert result.exit_code == 0 and unknown_id in result.output


def test_a_retry_while_the_first_request_runs_is_409(client, app, emulator, user, templates):
    """The first request with a key still runs (its WeChat call is slow): a retry must not send again."""
    accept(client, emulator, user, times=2)
    emulator.control("POST", "/latency", ms=800)
    first: list = []
    thread = threading.Thread(
        target=lambda: first.append(send(app.test_client(), body(user), **{"Idempotency-Key": "slow-1"}))
    )
    thread.start()
    deadline = time.monotonic() + 10
    with app.app_context():  # wait until the first request holds the key (its WeChat call takes 0.8 s)
        while not db.session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)):
            assert time.monotonic() < deadline
            db.session.rollback()
            time.sleep(0.02)
    assert_error(send(client, body(user), **{"Idempotency-Key": "slow-1"}), 409, "idempotency_in_progress")
    thread.join()
    assert first[0].status_code == 201
    assert len(emulator.control("GET", "/sent")) == 1
