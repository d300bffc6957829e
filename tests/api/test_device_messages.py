"""Device subscribe messages end to end through HTTP against the emulator (docs/wechat.md §11):
a ticket, the device popup, the report, and device sends to exactly the subscribers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.consent import device_subscriptions
from backend.delivery import outbox
from backend.extensions import db
from backend.models import ConsentEvent, DeviceSubscription, Message
from backend.sending import device_messages
from tests.conftest import REDIS_URL
from tests.helpers import (
    API_KEY,
    LAUNDRY_DATA,
    LAUNDRY_DONE,
    LONG_TERM,
    WASHER_DEVICE,
    WASHER_MODEL,
    assert_error,
    log_in,
    report,
    send,
)
from tests.test_batches import wait_done
from tests.test_delivery import RQ
from wxemu.defaults import DEV_APPID

SN, OTHER_SN = "SN-0001", "SN-0002"
FAULT = "tmpl-washer-fault"


@pytest.fixture
def device(emulator) -> None:
    emulator.control("POST", "/devices", **WASHER_DEVICE)


@pytest.fixture(autouse=True)
def bindings_required(app):
    """As outside dev mode: the users here are bound to their devices before the device page."""
    app.config["DEVICE_BINDING_REQUIRED"] = True


def ticket(client, user, sn: str = SN) -> str:
    """The device page of a user bound to the device (business code bound them first)."""
    bound = client.put(f"/api/v1/devices/{WASHER_MODEL}/{sn}/users/{user.id}", headers=API_KEY)
    assert bound.status_code == 200, bound.json
    response = client.post("/api/v1/devices/sn-ticket", json={"model_id": WASHER_MODEL, "sn": sn}, headers=user.auth)
    assert response.status_code == 200, response.json
    return response.json["sn_ticket"]


def subscribe(client, emulator, user, results: dict, sn: str = SN, reported_sn: str | None = None):
    """The device page: a ticket, the popup from a tap, and its result reported for the device.

    `reported_sn`: the device the mini program names in its report, if not the popup's.
    """
    popup = emulator.control(
        "POST",
        "/device_popup",
        openid=user.openid,
        model_id=WASHER_MODEL,
        sn=sn,
        sn_ticket=ticket(client, user, sn),
        results=results,
    )["result"]
    assert popup["errMsg"] == "requestSubscribeDeviceMessage:ok", popup
    if reported_sn:  # bound to that device too, and handed its ticket: the backend believes the report
        ticket(client, user, reported_sn)
    device = {"model_id": WASHER_MODEL, "sn": reported_sn or sn}
    response = report(client, user, popup, device=device)  # the raw success object, errMsg included
    assert response.status_code == 200, response.json
    return response.json["subscriptions"]


def send_device(client, sn: str = SN, template_id: str = LAUNDRY_DONE, data=None, headers=None, **extra):
    body = {"template_id": template_id, "model_id": WASHER_MODEL, "sn": sn, "data": data or LAUNDRY_DATA, **extra}
    return client.post("/api/v1/device-messages", json=body, headers={**API_KEY, **(headers or {})})


def device_sends(emulator) -> list[dict]:
    return emulator.calls("device_subscribe_send")


def delivered_to(emulator) -> list[str]:
    return sorted(entry["touser"] for entry in emulator.control("GET", "/device_sent"))


def listed_devices(client, user) -> dict[tuple[str, str], dict]:
    listed = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    return {(sub["template_id"], sub["device"]["sn"]): sub for sub in listed if "device" in sub}


def test_a_send_reaches_exactly_those_who_accepted_on_that_device(client, emulator, device):
    plain, audio, refused = (log_in(client, emulator) for _ in range(3))
    subscribe(client, emulator, plain, {LAUNDRY_DONE: "accept"})
    reported = subscribe(client, emulator, audio, {LAUNDRY_DONE: "acceptWithAudio", FAULT: "reject"})
    subscribe(client, emulator, refused, {LAUNDRY_DONE: "reject"})
    by_template = {sub["template_id"]: sub for sub in reported}
    assert by_template[LAUNDRY_DONE] == {
        **by_template[LAUNDRY_DONE],
        "kind": "device",
        "status": "accept",
        "audio": True,
        "remaining": None,
        "device": {"model_id": WASHER_MODEL, "sn": SN},
    }
    assert by_template[FAULT]["status"] == "reject"
    assert listed_devices(client, plain)[(LAUNDRY_DONE, SN)]["audio"] is False

    response = send_device(client)
    assert response.status_code == 201, response.json
    assert response.json["skipped"] == []
    messages = {m["user_id"]: m for m in response.json["messages"]}
    assert set(messages) == {plain.id, audio.id}
    assert {m["status"] for m in messages.values()} == {"sent"}
    assert delivered_to(emulator) == sorted([plain.openid, audio.openid])
    # One call per recipient, each with a one-element list, both spellings of the device type.
    bodies = device_sends(emulator)
    assert sorted(body["to_openid_list"][0] for body in bodies) == sorted([plain.openid, audio.openid])
    assert all(len(b["to_openid_list"]) == 1 and b["modelId"] == b["model_id"] == WASHER_MODEL for b in bodies)
    batch = client.get(f"/api/v1/batches/{response.json['id']}", headers=API_KEY).json
    assert batch["status"] == "done" and batch["counts"] == {"sent": 2}


def test_an_expired_ticket_19720727_subscribes_nobody(client, emulator, device, user):
    sn_ticket = ticket(client, user)
    emulator.control("POST", "/clock", advance=300)
    answer = emulator.control(
        "POST",
        "/device_popup",
        openid=user.openid,
        model_id=WASHER_MODEL,
        sn=SN,
        sn_ticket=sn_ticket,
        results={LAUNDRY_DONE: "accept"},
    )
    assert answer["result"] == {"errMsg": "requestSubscribeDeviceMessage:fail sn_ticket expire", "errCode": 19720727}
    # The mini program reports only a successful popup.
    failed = report(client, user, answer["result"], device={"model_id": WASHER_MODEL, "sn": SN})
    assert_error(failed, 400, "invalid_request")
    assert listed_devices(client, user) == {}
    sent = send_device(client).json
    assert sent["messages"] == [] and sent["skipped"] == []
    assert device_sends(emulator) == []


def test_a_send_for_another_sn_is_consent_required_without_a_wechat_call(client, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    response = send_device(client, sn=OTHER_SN, recipients=[{"user_id": user.id}, {"openid": "nobody-here"}])
    assert response.status_code == 201, response.json
    assert response.json["messages"] == []
    assert response.json["skipped"] == [
        {"user_id": None, "openid": "nobody-here", "reason": "user_not_found"},
        {"user_id": user.id, "openid": user.openid, "reason": "consent_required"},
    ]
    assert device_sends(emulator) == []
    assert send_device(client, sn=OTHER_SN).json["skipped"] == []  # nobody subscribed on it: nobody to tell


def test_a_send_may_name_its_app(client, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    response = send_device(client, appid=DEV_APPID)
    assert response.status_code == 201, response.json
    assert response.json["appid"] == DEV_APPID
    assert [m["status"] for m in response.json["messages"]] == ["sent"]
    other = send_device(client, appid="wx-not-served-here")
    assert other.status_code == 404 and other.json["error"]["code"] == "app_not_found"
    assert len(device_sends(emulator)) == 1


def test_wechat_9800006_when_the_ledger_names_another_device(client, app, emulator, device, user):
    # The popup was for SN, the report names OTHER_SN: the ledger and WeChat disagree.
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"}, reported_sn=OTHER_SN)
    response = send_device(client, sn=OTHER_SN)
    assert response.status_code == 201, response.json
    [message] = response.json["messages"]
    assert message == {**message, "status": "failed", "outcome": "wechat_rejected", "errcode": 9800006}
    assert [call["errcode"] for call in device_sends(emulator)] == [9800006]
    assert delivered_to(emulator) == []


def test_a_value_outside_the_enum_is_422_before_wechat(client, app, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    response = send_device(client, data={"thing1": "洗好了", "phrase2": "请及时取衣"})
    details = assert_error(response, 422, "invalid_template_data")
    assert details == {"thing1": "must be one of: 洗衣完成, 烘干完成"}
    missing = assert_error(
        send_device(client, data={"thing1": "洗衣完成", "extra3": "x"}), 422, "invalid_template_data"
    )
    assert missing == {"phrase2": "is required", "extra3": "is not a keyword of this template"}
    assert device_sends(emulator) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_43101_revokes_that_recipients_device_subscription_only(client, app, emulator, device, templates):
    user, neighbour = log_in(client, emulator), log_in(client, emulator)
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"}, sn=OTHER_SN)
    subscribe(client, emulator, neighbour, {LAUNDRY_DONE: "accept"})
    emulator.control("POST", "/popup", openid=user.openid, results={LONG_TERM["priTmplId"]: "accept"})
    assert report(client, user, {LONG_TERM["priTmplId"]: "accept"}).status_code == 200
    # The user turns the washer's reminders off in WeChat; the backend doesn't know yet.
    key = {"openid": user.openid, "template_id": LAUNDRY_DONE, "model_id": WASHER_MODEL, "sn": SN}
    emulator.control("POST", "/device_settings", **key)

    messages = {m["user_id"]: m for m in send_device(client).json["messages"]}
    assert messages[user.id] == {
        **messages[user.id],
        "status": "failed",
        "outcome": "consent_revoked",
        "errcode": 43101,
    }
    assert messages[neighbour.id]["status"] == "sent"
    subs = listed_devices(client, user)
    assert subs[(LAUNDRY_DONE, SN)]["status"] == "reject"
    assert subs[(LAUNDRY_DONE, OTHER_SN)]["status"] == "accept"
    assert listed_devices(client, neighbour)[(LAUNDRY_DONE, SN)]["status"] == "accept"
    ordinary = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["status"] for s in ordinary if s["template_id"] == LONG_TERM["priTmplId"]] == ["accept"]
    with app.app_context():
        revoked = db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.result == "revoked")).all()
        assert [(e.user_id, e.detail["sn"]) for e in revoked] == [(user.id, SN)]

    calls = len(device_sends(emulator))
    again = send_device(client, recipients=[{"openid": user.openid}]).json
    assert again["skipped"] == [{"user_id": user.id, "openid": user.openid, "reason": "consent_required"}]
    assert len(device_sends(emulator)) == calls


def test_device_and_ordinary_templates_keep_to_their_endpoints(client, emulator, device, templates, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    refused = [
        send(client, {"template_id": LAUNDRY_DONE, "openid": user.openid, "data": LAUNDRY_DATA}),
        client.post(
            "/api/v1/batches",
            json={"template_id": LAUNDRY_DONE, "data": LAUNDRY_DATA, "recipients": [{"openid": user.openid}]},
            headers=API_KEY,
        ),
        report(client, user, {LAUNDRY_DONE: "accept"}),
        send_device(client, template_id=LONG_TERM["priTmplId"], data={"thing1": "Line 5", "phrase2": "Soon"}),
        report(client, user, {LONG_TERM["priTmplId"]: "accept"}, device={"model_id": WASHER_MODEL, "sn": SN}),
    ]
    for response in refused:
        details = assert_error(response, 422, "wrong_template_kind")
        assert details["template_id"] in (LAUNDRY_DONE, LONG_TERM["priTmplId"])
    assert emulator.calls("subscribe_send") == [] and device_sends(emulator) == []


@pytest.mark.parametrize(
    "body",
    [
        {"results": {"a": "accept", "b": "accept", "c": "accept", "d": "accept"}},
        {"results": {LAUNDRY_DONE: "acceptWithAlert"}},
        {"results": {LAUNDRY_DONE: "accept"}, "device": {"model_id": WASHER_MODEL}},
        {"results": {LAUNDRY_DONE: "accept"}, "device": {"model_id": WASHER_MODEL, "sn": "SN 1"}},
        {"results": {LAUNDRY_DONE: "accept"}, "device": None},
    ],
)
def test_bad_device_reports_are_400_and_write_nothing(client, app, emulator, device, user, body):
    body = {**body, "device": body.get("device", {"model_id": WASHER_MODEL, "sn": SN})}
    assert_error(client.post("/api/v1/subscriptions", json=body, headers=user.auth), 400, "invalid_request")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DeviceSubscription)) == 0


def test_ban_and_filter_leave_an_accept_as_it_was(client, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    response = report(client, user, {LAUNDRY_DONE: "ban", FAULT: "filter"}, device={"model_id": WASHER_MODEL, "sn": SN})
    assert response.status_code == 200, response.json
    subs = listed_devices(client, user)
    assert subs[(LAUNDRY_DONE, SN)]["status"] == "accept" and subs[(FAULT, SN)]["status"] == "filter"


def test_a_retried_device_report_with_its_key_is_replayed(client, app, emulator, device, user):
    body = {"results": {LAUNDRY_DONE: "acceptWithAudio"}, "device": {"model_id": WASHER_MODEL, "sn": SN}}
    headers = {**user.auth, "Idempotency-Key": "device-popup-1"}
    ticket(client, user)
    first = client.post("/api/v1/subscriptions", json=body, headers=headers)
    second = client.post("/api/v1/subscriptions", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json == first.json and second.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 1


def test_a_device_message_record_names_its_device(client, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    [message] = send_device(client).json["messages"]
    record = client.get(f"/api/v1/messages/{message['id']}", headers=API_KEY).json
    assert record == {**record, "status": "sent", "model_id": WASHER_MODEL, "sn": SN, "wechat_msgid": None}


def test_a_retried_send_with_its_key_is_not_sent_twice(client, emulator, device, user):
    subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    first = send_device(client, headers={"Idempotency-Key": "laundry-42"})
    second = send_device(client, headers={"Idempotency-Key": "laundry-42"})
    assert first.status_code == second.status_code == 201
    assert second.json == first.json and second.headers["Idempotent-Replayed"] == "true"
    assert len(device_sends(emulator)) == 1


def test_more_than_the_inline_limit_runs_as_a_batch(client, emulator, device, monkeypatch):
    users = [log_in(client, emulator) for _ in range(3)]
    for user in users:
        subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    monkeypatch.setattr(device_messages, "INLINE_MAX", 2)
    response = send_device(client)
    assert response.status_code == 202, response.json
    assert response.json["total"] == 3 and "messages" not in response.json
    assert wait_done(client, response.json["id"])["counts"] == {"sent": 3}
    assert delivered_to(emulator) == sorted(user.openid for user in users)


def test_a_subscription_revoked_before_the_claim_is_skipped_without_a_wechat_call(
    client, app, emulator, device, monkeypatch
):
    users = [log_in(client, emulator) for _ in range(2)]
    for user in users:
        subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    monkeypatch.setattr(device_messages, "INLINE_MAX", 0)  # every send a batch
    monkeypatch.setattr(device_messages, "_queue", lambda batch: None)  # queued, not yet claimed
    response = send_device(client)
    assert response.status_code == 202, response.json
    with app.app_context():
        device_subscriptions.revoke(DEV_APPID, users[0].id, LAUNDRY_DONE, WASHER_MODEL, SN, source="client")
        db.session.commit()
        ids = db.session.scalars(sa.select(Message.id).order_by(Message.id)).all()
        claimed, _ = outbox.claim_group(list(ids))
        assert [message.user_id for message in claimed] == [users[1].id]
    batch = client.get(f"/api/v1/batches/{response.json['id']}", headers=API_KEY).json
    assert batch["counts"] == {"consent_required": 1, "sending": 1}
    assert device_sends(emulator) == []


@pytest.fixture
def rq(app, monkeypatch) -> RQ:
    """The test Redis as the queue, and a worker in this process (tests/test_delivery.py)."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    monkeypatch.setattr("backend.jobs._app", app)
    monkeypatch.setattr("backend.jobs._pool", None)
    queue = RQ()
    app.extensions["queue"] = queue.queue
    return queue


@pytest.mark.redis
def test_a_big_send_is_delivered_by_rq_workers(client, app, emulator, device, rq, monkeypatch):
    users = [log_in(client, emulator) for _ in range(3)]
    for user in users:
        subscribe(client, emulator, user, {LAUNDRY_DONE: "accept"})
    monkeypatch.setattr(device_messages, "INLINE_MAX", 1)
    response = send_device(client)
    assert response.status_code == 202, response.json
    assert device_sends(emulator) == []  # nothing sent before a worker runs
    rq.work()
    assert wait_done(client, response.json["id"])["counts"] == {"sent": 3}
    assert [len(call["to_openid_list"]) for call in device_sends(emulator)] == [1, 1, 1]
    assert delivered_to(emulator) == sorted(user.openid for user in users)
