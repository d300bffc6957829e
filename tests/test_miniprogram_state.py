"""Each mini program's own `miniprogram_state` on every send path (sending/rows.py).

Two apps from one apps file: A opens the `formal` version (the default), B the `trial` one. A
send that names no state must open its own app's version, whichever path it takes: sent now,
sent later (`Prefer: respond-async`), a batch, a device send. The four paths used to build
their rows in four places, two of them falling back to the global WX_MINIPROGRAM_STATE.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import DeviceSubscription, Message, Template, utcnow
from backend.sending.device_messages import DeviceSendRequest, send_device_message
from backend.states import SubscriptionStatus, TemplateKind
from tests.api.pushing import popup
from tests.helpers import GOOD_DATA, LAUNDRY_DATA, LAUNDRY_DONE, WASHER_DEVICE, WASHER_MODEL
from tests.test_apps import (
    AES_A,
    AES_B,
    KEY_A,
    KEY_B,
    T1,
    TOKEN_A,
    TOKEN_B,
    A,
    B,
    log_in,
    push,
    two_apps,  # noqa: F401 - the fixture
)

STATE = {A: "formal", B: "trial"}  # as the apps file of tests/test_apps.py configures them
KEYS = {A: (KEY_A, TOKEN_A, AES_A), B: (KEY_B, TOKEN_B, AES_B)}


def credited_user(client, emulator, appid: str, credits: int) -> str:
    """A user of `appid` with `credits` one-time credits for T1, granted by WeChat's signed pushes."""
    openid = log_in(client, emulator, appid)["openid"]
    _, token, aes_key = KEYS[appid]
    for number in range(credits):  # one popup each: a push counts once per CreateTime
        emulator.control("POST", "/popup", appid=appid, openid=openid, results={T1: "accept"})
        message = popup(openid, (T1, "accept"), create_time=1700000000 + number)
        assert push(client, appid, message, token, aes_key).status_code == 200
    return openid


def sent_states(emulator, openid: str, count: int) -> list[str]:
    """The `miniprogram_state` of the sends WeChat received for `openid`, once `count` arrived."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = [sent["miniprogram_state"] for sent in emulator.control("GET", "/sent") if sent["touser"] == openid]
        if len(states) >= count:
            return states
        time.sleep(0.05)
    raise AssertionError(f"{count} sends to {openid} did not arrive")


@pytest.mark.parametrize("appid", [A, B])
def test_sent_now_later_and_in_a_batch_each_with_its_apps_state(two_apps, emulator, appid):  # noqa: F811
    client = two_apps.test_client()
    openid = credited_user(client, emulator, appid, credits=3)
    headers = {"X-Api-Key": KEYS[appid][0]}
    body = {"template_id": T1, "data": GOOD_DATA, "openid": openid}

    now = client.post("/api/v1/messages", json=body, headers=headers)
    assert now.status_code == 201, now.json
    later = client.post("/api/v1/messages", json=body, headers={**headers, "Prefer": "respond-async"})
    assert later.status_code == 202, later.json
    batch_body = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": openid}]}
    batch = client.post("/api/v1/batches", json=batch_body, headers=headers)
    assert batch.status_code == 202, batch.json

    assert sent_states(emulator, openid, 3) == [STATE[appid]] * 3
    with two_apps.app_context():
        rows = db.session.scalars(sa.select(Message.miniprogram_state).where(Message.openid == openid)).all()
    assert sorted(rows) == [STATE[appid]] * 3


def test_a_state_named_in_the_request_wins_over_the_apps(two_apps, emulator):  # noqa: F811
    client = two_apps.test_client()
    openid = credited_user(client, emulator, B, credits=1)
    body = {"template_id": T1, "data": GOOD_DATA, "openid": openid, "miniprogram_state": "developer"}
    assert client.post("/api/v1/messages", json=body, headers={"X-Api-Key": KEY_B}).status_code == 201
    assert sent_states(emulator, openid, 1) == ["developer"]


def test_device_sends_each_with_their_apps_state(two_apps, emulator):  # noqa: F811
    """The device path through its service: each app's device template and subscriber written as
    WeChat's confirmation and the device popup would leave them (the emulator keeps devices for
    its default app only), then one device send per app."""
    client = two_apps.test_client()
    users = {appid: log_in(client, emulator, appid)["user"]["id"] for appid in (A, B)}
    spec = WASHER_DEVICE["templates"][0]
    now = utcnow()
    with two_apps.app_context():
        for appid, user_id in users.items():
            db.session.add(
                Template(
                    app_id=appid,
                    id=LAUNDRY_DONE,
                    kind=TemplateKind.DEVICE,
                    title=spec["title"],
                    keywords=[{"key": k["key"], "name": k["name"], "type": "enum"} for k in spec["keywords"]],
                    enum_values={k["key"]: k["enum"] for k in spec["keywords"]},
                    synced=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            db.session.add(
                DeviceSubscription(
                    app_id=appid,
                    user_id=user_id,
                    template_id=LAUNDRY_DONE,
                    model_id=WASHER_MODEL,
                    sn="SN-1",
                    status=SubscriptionStatus.ACCEPT,
                    created_at=now,
                    updated_at=now,
                )
            )
        db.session.commit()
        apps = two_apps.extensions["apps"]
        for appid in (A, B):
            request = DeviceSendRequest(template_id=LAUNDRY_DONE, model_id=WASHER_MODEL, sn="SN-1", data=LAUNDRY_DATA)
            send_device_message(apps.get(appid), request)
        written = db.session.execute(sa.select(Message.app_id, Message.miniprogram_state, Message.user_id)).all()
    assert sorted(written) == [(A, "formal", users[A]), (B, "trial", users[B])]
