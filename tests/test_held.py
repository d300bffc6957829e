"""Held sends (`if_no_credit: "wait"`): a send without a credit waits for the user's next one.

Through HTTP, on SQLite and PostgreSQL: the credit of a report (or of a push, when pushes are
the authority) releases the oldest held message in its own transaction, and the outbox
delivers it with that credit; one credit, one WeChat call, even when accepts and held sends
race. Held messages expire with `message.expired`, can be canceled, and show per user and in
batch listings.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.consent import held
from backend.delivery import due
from backend.extensions import db
from backend.models import Message, WebhookEvent
from tests.api.pushing import TOKEN, popup, post
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, at_once, log_in, reconfigure, report, send

T1 = ONE_TIME["priTmplId"]
WAIT = {"if_no_credit": "wait"}


def held_send(client, user, **extra):
    return send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, **WAIT, **extra})


def record(client, message_id: str) -> dict:
    response = client.get(f"/api/v1/messages/{message_id}", headers=API_KEY)
    assert response.status_code == 200
    return response.json


def wait_for(client, message_id: str, status: str, seconds: float = 10) -> dict:
    """The message once it reached `status` (released messages are delivered by the queue's thread)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = record(client, message_id)
        if current["status"] == status:
            return current
        time.sleep(0.05)
    raise AssertionError(f"{message_id} is {current['status']}, not {status}")


def statuses(app) -> dict[str, int]:
    with app.app_context():
        return dict(db.session.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all())


def wait_until_settled(app, seconds: float = 20) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = statuses(app)
        if not counts.get("queued") and not counts.get("sending"):
            return counts
        time.sleep(0.05)
    raise AssertionError(f"still being delivered: {statuses(app)}")


def test_a_send_without_credit_is_held_without_a_wechat_call(client, emulator, templates, user):
    response = held_send(client, user)
    assert response.status_code == 202, response.json
    assert response.json["status"] == "awaiting_consent"
    wait_until = datetime.fromisoformat(response.json["wait_until"])
    assert timedelta(days=6, hours=23) < wait_until - datetime.now(UTC) <= timedelta(days=7)
    assert emulator.calls("subscribe_send") == []
    account = client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json
    assert account["waiting"] == {T1: 1}


def test_without_wait_a_send_without_credit_is_still_refused(client, emulator, templates, user):
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}
    assert_error(send(client, body), 409, "consent_required")
    assert_error(send(client, {**body, "wait_until": "2030-01-01T00:00:00Z"}), 400, "invalid_request")


@pytest.mark.parametrize(
    "wait_until",
    [
        (datetime.now(UTC) + timedelta(days=31)).isoformat(),  # more than 30 days ahead
        (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),  # past
        "2026-12-24T09:00:00",  # no offset
    ],
)
def test_a_bad_wait_until_is_refused(client, emulator, templates, user, wait_until):
    assert_error(held_send(client, user, wait_until=wait_until), 400, "invalid_request")
    assert statuses(client.application) == {}


def test_a_report_releases_the_oldest_held_message(app, client, emulator, templates, user):
    first = held_send(client, user).json["id"]
    second = held_send(client, user).json["id"]
    accept(client, emulator, user)
    sent = wait_for(client, first, "sent")
    assert sent["wechat_msgid"]
    assert record(client, second)["status"] == "awaiting_consent"
    [call] = emulator.calls("subscribe_send")
    assert call["errcode"] == 0
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["remaining"] for s in subs if s["template_id"] == T1] == [0]  # the credit went to the held message
    assert client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json["waiting"] == {T1: 1}


def test_a_push_releases_a_held_message_when_pushes_are_the_authority(app, client, emulator, templates, user):
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    message_id = held_send(client, user).json["id"]
    # The report alone mints nothing under push authority: nothing is released by it.
    assert report(client, user, {T1: "accept"}).status_code == 200
    assert record(client, message_id)["status"] == "awaiting_consent"
    emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})  # WeChat's own count
    assert post(client, app, popup(user.openid, (T1, "accept"), create_time=int(time.time()))).status_code == 200
    wait_for(client, message_id, "sent")
    assert len(emulator.calls("subscribe_send")) == 1


def test_40_held_sends_and_10_accepts_racing_send_10(app, client, emulator, templates, user):
    for _ in range(10):  # WeChat counts ten accepts: the backend is the one that must not overspend
        emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})

    def one(n: int):
        caller = app.test_client()
        if n % 5 == 0:  # 10 of the 50 are accepts, among the 40 held sends
            return report(caller, user, {T1: "accept"}).status_code
        return held_send(caller, user).status_code

    answers = at_once(50, one)
    assert sorted(set(answers)) in ([200, 201, 202], [200, 202])
    with app.app_context():
        due.settle_held()  # the sweeper's safety net: a credit recorded while a send was being held
    counts = wait_until_settled(app)
    assert counts == {"sent": 10, "awaiting_consent": 30}
    assert len(emulator.calls("subscribe_send")) == 10
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["remaining"] for s in subs if s["template_id"] == T1] == [0]
    assert client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json["waiting"] == {T1: 30}


def test_a_credit_recorded_unseen_is_released_by_the_safety_net(app, client, emulator, templates, user):
    message_id = held_send(client, user).json["id"]
    with app.app_context():  # a report answered by a process that did not know anything was held
        db.session.execute(sa.update(Message).values(status="queued"))
        db.session.commit()
        held._flag.forget()
    accept(client, emulator, user)  # nothing held: the credit stays
    with app.app_context():
        db.session.execute(sa.update(Message).values(status="awaiting_consent"))
        db.session.commit()
        due.settle_held()
    wait_for(client, message_id, "sent")
    assert len(emulator.calls("subscribe_send")) == 1


def test_a_held_message_expires_with_its_webhook(app, client, emulator, templates, user):
    reconfigure(app, WEBHOOK_URL="http://127.0.0.1:9/hooks", WEBHOOK_SECRET="whsec_" + "A" * 32)
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    message_id = held_send(client, user, wait_until=soon).json["id"]
    with app.app_context():
        due.settle_held(datetime.now(UTC) + timedelta(seconds=10))  # not yet
    assert record(client, message_id)["status"] == "awaiting_consent"
    with app.app_context():
        due.settle_held(datetime.now(UTC) + timedelta(seconds=31))
        [event] = db.session.scalars(sa.select(WebhookEvent).where(WebhookEvent.type == "message.expired")).all()
        assert event.payload["data"]["id"] == message_id
        assert event.payload["data"]["outcome"] == "wait_expired"
    expired = record(client, message_id)
    assert (expired["status"], expired["outcome"]) == ("failed", "wait_expired")
    accept(client, emulator, user)  # too late: the credit stays with the user
    assert emulator.calls("subscribe_send") == []


def test_a_held_message_can_be_canceled(app, client, emulator, templates, user):
    message_id = held_send(client, user).json["id"]
    canceled = client.delete(f"/api/v1/messages/{message_id}", headers=API_KEY)
    assert canceled.status_code == 200 and canceled.json["status"] == "canceled"
    accept(client, emulator, user)
    with app.app_context():
        due.settle_held()
    assert record(client, message_id)["status"] == "canceled"
    assert emulator.calls("subscribe_send") == []
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["remaining"] for s in subs if s["template_id"] == T1] == [1]  # the credit is the user's


def test_a_batch_holds_recipients_without_credit(app, client, emulator, templates, user):
    other = log_in(client, emulator)
    accept(client, emulator, other)
    body = {
        "template_id": T1,
        "data": GOOD_DATA,
        "recipients": [{"openid": user.openid}, {"openid": other.openid}],
        **WAIT,
    }
    created = client.post("/api/v1/batches", json=body, headers=API_KEY)
    assert created.status_code == 202, created.json
    batch_id = created.json["id"]
    wait_until_settled(app)
    progress = client.get(f"/api/v1/batches/{batch_id}", headers=API_KEY).json
    assert progress["counts"] == {"sent": 1, "awaiting_consent": 1}
    assert progress["status"] != "done"
    items = client.get(f"/api/v1/batches/{batch_id}/messages", headers=API_KEY).json["items"]
    assert {item["user_id"]: item["outcome"] for item in items} == {other.id: "sent", user.id: "awaiting_consent"}
    accept(client, emulator, user)
    wait_until_settled(app)
    progress = client.get(f"/api/v1/batches/{batch_id}", headers=API_KEY).json
    assert progress["counts"] == {"sent": 2}
    assert len(emulator.calls("subscribe_send")) == 2
