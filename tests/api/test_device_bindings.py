"""Devices belong to people (docs/api.md, Device bindings), through HTTP against the emulator.

With DEVICE_BINDING_REQUIRED (the default outside dev mode) only a user bound to a device gets
its sn_ticket, a device report is believed only from a bound user the backend handed the
device's ticket, a send without recipients reaches bound users only, and an unbind revokes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from backend.consent import device_bindings
from backend.extensions import db
from backend.models import ConsentEvent, DeviceBinding, DeviceBindingCode, DeviceSubscription, utcnow
from backend.users import binding
from tests.api import test_recipients as recipients_tests
from tests.api.test_recipients import WITH_AND_WITHOUT_REDIS
from tests.helpers import (
    API_KEY,
    LAUNDRY_DATA,
    LAUNDRY_DONE,
    WASHER_DEVICE,
    WASHER_MODEL,
    assert_error,
    at_once,
    log_in,
    report,
)

SN, OTHER_SN = "SN-0001", "SN-0002"
DEVICE = {"model_id": WASHER_MODEL, "sn": SN}


@pytest.fixture(autouse=True)
def bindings_required(request):
    """Production's default (tests run in dev mode, where it is off)."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["DEVICE_BINDING_REQUIRED"] = True


@pytest.fixture
def device(emulator) -> None:
    emulator.control("POST", "/devices", **WASHER_DEVICE)


def bind(client, user, sn: str = SN, model_id: str = WASHER_MODEL):
    return client.put(f"/api/v1/devices/{model_id}/{sn}/users/{user.id}", headers=API_KEY)


def unbind(client, user, sn: str = SN):
    return client.delete(f"/api/v1/devices/{WASHER_MODEL}/{sn}/users/{user.id}", headers=API_KEY)


def ask_ticket(client, user, sn: str = SN, model_id: str = WASHER_MODEL):
    return client.post("/api/v1/devices/sn-ticket", json={"model_id": model_id, "sn": sn}, headers=user.auth)


def popup(emulator, user, sn_ticket: str, sn: str = SN, results=None) -> dict:
    """The device popup on the user's phone, answered: what wx.requestSubscribeDeviceMessage returns."""
    answer = emulator.control(
        "POST",
        "/device_popup",
        openid=user.openid,
        model_id=WASHER_MODEL,
        sn=sn,
        sn_ticket=sn_ticket,
        results=results or {LAUNDRY_DONE: "accept"},
    )["result"]
    assert answer["errMsg"] == "requestSubscribeDeviceMessage:ok", answer
    return answer


def subscribe(client, emulator, user, sn: str = SN):
    """The device page of a bound user: a ticket, the popup, the report."""
    sn_ticket = ask_ticket(client, user, sn).json["sn_ticket"]
    response = report(client, user, popup(emulator, user, sn_ticket, sn), device={"model_id": WASHER_MODEL, "sn": sn})
    assert response.status_code == 200, response.json
    return response.json["subscriptions"]


def send_device(client, **extra):
    body = {"template_id": LAUNDRY_DONE, **DEVICE, "data": LAUNDRY_DATA, **extra}
    return client.post("/api/v1/device-messages", json=body, headers=API_KEY)


def stored(app) -> tuple[int, int]:
    """Device subscriptions and consent events written so far."""
    with app.app_context():
        subscriptions = db.session.scalar(sa.select(sa.func.count()).select_from(DeviceSubscription))
        events = db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
        db.session.rollback()
        return subscriptions, events


def tickets_fetched(emulator) -> int:
    return len([call for call in emulator.calls("getsnticket") if call["errcode"] == 0])


# -- the ticket ---------------------------------------------------------------------------------


def test_a_user_not_bound_gets_403_for_the_ticket_without_a_wechat_call(client, emulator, device):
    owner, stranger = log_in(client, emulator), log_in(client, emulator)
    assert bind(client, owner).status_code == 200
    details = assert_error(ask_ticket(client, stranger), 403, "forbidden")
    assert details == {"device": "not bound to this user"}
    assert tickets_fetched(emulator) == 0
    # Bound to one washer is not bound to the next one of the same model.
    assert_error(ask_ticket(client, owner, OTHER_SN), 403, "forbidden")
    response = ask_ticket(client, owner)
    assert response.status_code == 200, response.json
    assert tickets_fetched(emulator) == 1


def test_a_ticket_for_an_unknown_model_id_is_403_without_a_wechat_call(client, emulator, device, user):
    assert bind(client, user).status_code == 200
    assert_error(ask_ticket(client, user, model_id="no-such-model"), 403, "forbidden")
    assert tickets_fetched(emulator) == 0


def test_in_dev_mode_anyone_logged_in_gets_the_ticket(client, app, emulator, device, user):
    app.config["DEVICE_BINDING_REQUIRED"] = False
    assert ask_ticket(client, user).status_code == 200


# -- reports ------------------------------------------------------------------------------------


def test_a_bound_user_with_a_ticket_subscribes_and_is_told(client, emulator, device, user):
    assert bind(client, user).status_code == 200
    (subscription,) = subscribe(client, emulator, user)
    assert subscription["status"] == "accept" and subscription["device"] == DEVICE
    response = send_device(client)
    assert response.status_code == 201, response.json
    assert [m["user_id"] for m in response.json["messages"]] == [user.id]
    assert response.json["messages"][0]["status"] == "sent"


def test_a_report_without_a_backend_issued_ticket_is_refused_and_stores_nothing(client, app, emulator, device):
    owner, forger = log_in(client, emulator), log_in(client, emulator)
    for person in (owner, forger):
        assert bind(client, person).status_code == 200
    before = stored(app)
    # The forger was never handed a ticket: a popup result made up, or played with the owner's ticket.
    owners_ticket = ask_ticket(client, owner).json["sn_ticket"]
    played = popup(emulator, forger, owners_ticket)
    for body in ({LAUNDRY_DONE: "accept"}, played):
        details = assert_error(report(client, forger, body, device=DEVICE), 403, "forbidden")
        assert details == {"device": "no sn_ticket handed to this user within its lifetime"}
    assert stored(app) == before
    assert send_device(client).json["messages"] == []


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"model_id": "no-such-model", "sn": SN}, id="unknown-model"),
        pytest.param({"model_id": WASHER_MODEL, "sn": OTHER_SN}, id="a-device-not-bound"),
    ],
)
def test_forged_reports_are_refused_and_store_nothing(client, app, emulator, device, user, forged):
    assert bind(client, user).status_code == 200
    ask_ticket(client, user)  # a ticket for the bound device does not cover another one
    before = stored(app)
    response = report(client, user, {LAUNDRY_DONE: "accept"}, device=forged)
    if forged["model_id"] == WASHER_MODEL:
        assert_error(response, 403, "forbidden")
    else:
        assert "model_id" in assert_error(response, 422, "invalid_request")
    assert stored(app) == before


def test_a_report_from_a_user_not_bound_is_refused(client, app, emulator, device):
    owner, stranger = log_in(client, emulator), log_in(client, emulator)
    assert bind(client, owner).status_code == 200
    played = popup(emulator, stranger, ask_ticket(client, owner).json["sn_ticket"])  # the owner's ticket
    before = stored(app)
    assert_error(report(client, stranger, played, device=DEVICE), 403, "forbidden")
    assert stored(app) == before


def test_a_report_after_the_tickets_lifetime_is_refused(client, app, emulator, device, user):
    assert bind(client, user).status_code == 200
    played = popup(emulator, user, ask_ticket(client, user).json["sn_ticket"])
    with app.app_context():  # the ticket handed out ended longer ago than a tap takes
        db.session.execute(
            sa.update(DeviceBinding).values(ticket_expires_at=utcnow() - device_bindings.REPORT_GRACE - timedelta(1))
        )
        db.session.commit()
    before = stored(app)
    assert_error(report(client, user, played, device=DEVICE), 403, "forbidden")
    assert stored(app) == before
    # A fresh ticket (WeChat's is reused while valid) lets the same user report again.
    assert (
        report(
            client, user, popup(emulator, user, ask_ticket(client, user).json["sn_ticket"]), device=DEVICE
        ).status_code
        == 200
    )


# -- binding and unbinding ----------------------------------------------------------------------


def test_put_binds_idempotently_and_get_lists_the_bound_users(client, emulator, device):
    first, second = log_in(client, emulator), log_in(client, emulator)
    one = bind(client, first)
    assert one.status_code == 200
    assert one.json == {**one.json, "appid": one.json["appid"], "model_id": WASHER_MODEL, "sn": SN, "user_id": first.id}
    assert set(one.json) == {"appid", "model_id", "sn", "user_id", "created_at"}
    assert bind(client, first).json == one.json  # the same binding, not a second one
    bind(client, second)
    bind(client, second, OTHER_SN)
    listed = client.get(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users", headers=API_KEY)
    assert listed.status_code == 200
    assert [b["user_id"] for b in listed.json["users"]] == [first.id, second.id]
    empty = client.get(f"/api/v1/devices/{WASHER_MODEL}/SN-NONE/users", headers=API_KEY)
    assert empty.json == {"users": []}


@pytest.mark.parametrize(
    "path",
    [f"/api/v1/devices/{WASHER_MODEL}/bad%20sn/users/1", f"/api/v1/devices/{'m' * 129}/{SN}/users/1"],
)
def test_a_bad_device_in_the_path_is_400(client, path):
    assert_error(client.put(path, headers=API_KEY), 400, "invalid_request")


def test_binding_needs_a_known_user_and_the_api_key(client, user):
    assert_error(
        client.put(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users/999999", headers=API_KEY), 404, "user_not_found"
    )
    assert_error(
        client.put(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users/{user.id}", headers=user.auth), 401, "unauthorized"
    )


def test_unbind_revokes_that_users_subscriptions_for_that_device_only(client, app, emulator, device):
    leaving, staying = log_in(client, emulator), log_in(client, emulator)
    for person in (leaving, staying):
        bind(client, person)
        subscribe(client, emulator, person)
    bind(client, leaving, OTHER_SN)
    subscribe(client, emulator, leaving, OTHER_SN)

    assert unbind(client, leaving).status_code == 204
    assert unbind(client, leaving).status_code == 204  # nothing left to unbind: the same answer
    statuses = {
        (sub["device"]["sn"], sub["status"])
        for sub in client.get("/api/v1/subscriptions", headers=leaving.auth).json["subscriptions"]
    }
    assert statuses == {(SN, "reject"), (OTHER_SN, "accept")}
    with app.app_context():
        revoked = db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.result == "revoked")).all()
        assert [(e.user_id, e.source) for e in revoked] == [(leaving.id, "business")]
        db.session.rollback()

    response = send_device(client)
    assert [m["user_id"] for m in response.json["messages"]] == [staying.id]
    assert_error(ask_ticket(client, leaving), 403, "forbidden")
    # Even naming them does not reach them: their subscription is revoked.
    named = send_device(client, recipients=[{"user_id": leaving.id}])
    assert named.json["messages"] == [] and named.json["skipped"][0]["reason"] == "consent_required"


def test_a_send_without_recipients_reaches_only_bound_users(client, app, emulator, device):
    """Subscriptions from before bindings were required (or forged then) reach nobody any more."""
    app.config["DEVICE_BINDING_REQUIRED"] = False
    bound, unbound = log_in(client, emulator), log_in(client, emulator)
    for person in (bound, unbound):
        subscribe(client, emulator, person)
    bind(client, bound)
    app.config["DEVICE_BINDING_REQUIRED"] = True
    response = send_device(client)
    assert response.status_code == 201, response.json
    assert [m["user_id"] for m in response.json["messages"]] == [bound.id]
    sent = [call["to_openid_list"] for call in emulator.calls("device_subscribe_send")]
    assert sent == [[bound.openid]]


# -- device binding codes -----------------------------------------------------------------------


def new_device_code(client, sn: str = SN, **extra) -> dict:
    response = client.post(
        "/api/v1/device-binding-codes", json={"model_id": WASHER_MODEL, "sn": sn, **extra}, headers=API_KEY
    )
    assert response.status_code == 201, response.json
    return response.json


def redeem(client, user, code: str, **kwargs):
    return client.post("/api/v1/me/devices", json={"code": code}, headers=user.auth, **kwargs)


def test_a_device_code_binds_whoever_redeems_it_once(client, app, emulator, device, user):
    issued = new_device_code(client)
    assert set(issued) == {"code", "expires_at"}
    with app.app_context():  # only its hash is kept
        assert db.session.scalar(sa.select(DeviceBindingCode.code_hash)) != issued["code"]
        db.session.rollback()
    typed = issued["code"].lower()[:4] + "-" + issued["code"][4:]  # as a person may type it
    response = redeem(client, user, typed)
    assert response.status_code == 200, response.json
    assert response.json == {**response.json, "model_id": WASHER_MODEL, "sn": SN, "user_id": user.id}
    assert ask_ticket(client, user).status_code == 200  # now bound
    other = log_in(client, emulator)
    assert_error(redeem(client, other, issued["code"]), 400, "binding_code_invalid")  # single-use
    assert_error(redeem(client, user, issued["code"]), 400, "binding_code_invalid")


def test_an_expired_or_foreign_code_binds_nobody(client, app, emulator, device, user):
    expired = new_device_code(client, expires_in=60)["code"]
    with app.app_context():
        db.session.execute(sa.update(DeviceBindingCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(redeem(client, user, expired), 400, "binding_code_invalid")
    account_code = client.post("/api/v1/binding-codes", json={"external_id": "EMP-1"}, headers=API_KEY).json["code"]
    assert_error(redeem(client, user, account_code), 400, "binding_code_invalid")  # an account code is not a device's
    assert_error(ask_ticket(client, user), 403, "forbidden")  # still bound to nothing


@pytest.mark.parametrize(
    "body", [{"model_id": WASHER_MODEL}, {"model_id": WASHER_MODEL, "sn": "bad sn"}, {**DEVICE, "expires_in": 10}]
)
def test_a_bad_code_request_is_400(client, body):
    assert_error(client.post("/api/v1/device-binding-codes", json=body, headers=API_KEY), 400, "invalid_request")


def test_one_code_redeemed_by_several_at_once_binds_exactly_one(database_url, emulator):
    app = guessing_app(database_url, emulator, None)
    client = app.test_client()
    people = [log_in(client, emulator) for _ in range(6)]
    code = new_device_code(client)["code"]
    statuses = at_once(6, lambda n: redeem(app.test_client(), people[n], code).status_code)
    bound = client.get(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users", headers=API_KEY).json["users"]
    with app.app_context():
        db.engine.dispose()
    assert sorted(statuses) == [200] + [400] * 5
    assert [b["user_id"] for b in bound] == [people[statuses.index(200)].id]


def test_binding_twice_at_once_makes_one_binding(client, app, emulator, user):
    answers = at_once(
        6, lambda n: app.test_client().put(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users/{user.id}", headers=API_KEY)
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json["created_at"] for a in answers}) == 1
    assert len(client.get(f"/api/v1/devices/{WASHER_MODEL}/{SN}/users", headers=API_KEY).json["users"]) == 1


def guessing_app(database_url, emulator, redis_url: str | None):
    return recipients_tests.guessing_app(database_url, emulator, redis_url, DEVICE_BINDING_REQUIRED=True)


@pytest.mark.parametrize("redis_url", WITH_AND_WITHOUT_REDIS)
def test_32_concurrent_device_code_guesses_of_one_user_check_exactly_the_limit(database_url, emulator, redis_url):
    app = guessing_app(database_url, emulator, redis_url)
    user = log_in(app.test_client(), emulator)
    statuses = at_once(32, lambda n: redeem(app.test_client(), user, f"{n:012d}").status_code)
    # Account codes share the count: the user's guesses are spent, whichever kind they were for.
    account = app.test_client().post("/api/v1/me/binding", json={"code": "AAAAAAAAAAAA"}, headers=user.auth)
    with app.app_context():
        db.engine.dispose()
    assert sorted(statuses) == [400] * binding.MAX_FAILURES + [429] * (32 - binding.MAX_FAILURES)
    assert account.status_code == 429


@pytest.mark.parametrize("redis_url", WITH_AND_WITHOUT_REDIS)
def test_device_code_guesses_spread_over_users_are_limited_per_client_ip(database_url, emulator, redis_url):
    app = guessing_app(database_url, emulator, redis_url)
    users = [log_in(app.test_client(), emulator) for _ in range(32)]
    client = app.test_client()
    code = new_device_code(client)["code"]
    assert redeem(client, users[0], code).status_code == 200  # a right code counts against neither
    statuses = at_once(32, lambda n: redeem(app.test_client(), users[n], "AAAAAAAAAAAA").status_code)
    other_ip = redeem(client, users[1], new_device_code(client)["code"], environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with app.app_context():
        db.engine.dispose()
    assert sorted(statuses) == [400] * binding.MAX_IP_FAILURES + [429] * (32 - binding.MAX_IP_FAILURES)
    assert other_ip.status_code == 200
