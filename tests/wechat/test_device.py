"""The WeChat client's device messages against the emulator (docs/wechat.md §11):
getsnticket and the device send, each errcode mapped to its exception."""

from __future__ import annotations

import pytest

from backend.wechat.errors import (
    DeliveryUnknown,
    DeviceNotSubscribed,
    InvalidDevice,
    RequestRejected,
    SystemBusy,
    UserRefused,
)
from tests.helpers import LAUNDRY_DATA, LAUNDRY_DONE, ONE_TIME, WASHER_DEVICE, WASHER_MODEL

SN = "SN-0001"


@pytest.fixture
def device(emulator) -> None:
    emulator.control("POST", "/devices", **WASHER_DEVICE)


def subscriber(emulator, wechat, sn: str = SN, result: str = "accept") -> str:
    """A user who answered the device popup for (WASHER_MODEL, sn)."""
    openid = emulator.control("POST", "/users")["openid"]
    sn_ticket = wechat.device.sn_ticket(WASHER_MODEL, sn)
    body = {"openid": openid, "model_id": WASHER_MODEL, "sn": sn, "sn_ticket": sn_ticket}
    answer = emulator.control("POST", "/device_popup", **body, results={LAUNDRY_DONE: result})
    assert answer["result"]["errMsg"].endswith(":ok"), answer
    return openid


class TestSnTicket:
    def test_a_ticket_the_phone_accepts(self, wechat, emulator, device):
        assert subscriber(emulator, wechat)
        [call] = emulator.calls("getsnticket")
        assert call["path"] == "/wxa/getsnticket" and call["errcode"] == 0
        assert (call["sn"], call["model_id"]) == (SN, WASHER_MODEL)

    @pytest.mark.parametrize(
        ("model_id", "sn", "errcode", "field"),
        [
            (WASHER_MODEL, "x" * 129, 9800001, "sn"),
            (WASHER_MODEL, "SN 1", 9800002, "sn"),
            ("no-such-model", SN, 9800003, "model_id"),
        ],
    )
    def test_a_bad_device_names_the_field(self, wechat, emulator, device, model_id, sn, errcode, field):
        with pytest.raises(InvalidDevice) as caught:
            wechat.device.sn_ticket(model_id, sn)
        assert caught.value.errcode == errcode
        assert caught.value.field == field
        assert isinstance(caught.value, RequestRejected)
        assert caught.value.rid

    def test_system_busy_is_retried(self, wechat, emulator, device):
        emulator.fault(api="getsnticket", errcode=-1, times=1)
        assert wechat.device.sn_ticket(WASHER_MODEL, SN)
        assert [call["errcode"] for call in emulator.calls("getsnticket")] == [-1, 0]


class TestDeviceSend:
    def test_sends_both_spellings_of_the_model_id_and_reaches_the_subscriber(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat)
        assert (
            wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA, page="pages/device/index")
            is None
        )
        [call] = emulator.calls("device_subscribe_send")
        assert call["modelId"] == call["model_id"] == WASHER_MODEL
        assert call["to_openid_list"] == [openid] and call["sn"] == SN
        [message] = emulator.control("GET", "/device_sent")
        assert message["touser"] == openid
        assert message["data"] == {key: {"value": value} for key, value in LAUNDRY_DATA.items()}
        assert message["page"] == "pages/device/index"

    def test_a_refused_or_cancelled_subscription_is_user_refused_43101(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat, result="reject")
        with pytest.raises(UserRefused) as caught:
            wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA)
        assert caught.value.errcode == 43101

    def test_a_subscription_for_another_device_is_device_not_subscribed_9800006(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat, sn="SN-0002")
        with pytest.raises(DeviceNotSubscribed) as caught:
            wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA)
        assert caught.value.errcode == 9800006

    @pytest.mark.parametrize(
        ("overrides", "errcode"),
        [
            ({"data": {**LAUNDRY_DATA, "thing1": "洗好了"}}, 47003),  # not an enum value
            ({"template_id": ONE_TIME["priTmplId"]}, 40037),  # an ordinary template
            ({"page": "pages/nowhere/index"}, 41030),
        ],
    )
    def test_request_errors_are_request_rejected(self, wechat, emulator, device, templates, overrides, errcode):
        emulator.control("POST", "/config", pages=["pages/device/index"])
        openid = subscriber(emulator, wechat)
        args = {"template_id": LAUNDRY_DONE, "data": LAUNDRY_DATA, "page": None, **overrides}
        with pytest.raises(RequestRejected) as caught:
            wechat.device.send([openid], args["template_id"], WASHER_MODEL, SN, args["data"], page=args["page"])
        assert caught.value.errcode == errcode
        assert emulator.control("GET", "/device_sent") == []

    def test_not_repeated_when_the_answer_is_lost(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat)
        emulator.fault(api="device_subscribe_send", drop=True, times=1)
        with pytest.raises(DeliveryUnknown):
            wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA)
        assert len(emulator.calls("device_subscribe_send")) == 1
        assert len(emulator.control("GET", "/device_sent")) == 1  # it did arrive

    def test_system_busy_is_retried_as_nothing_was_sent(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat)
        emulator.fault(api="device_subscribe_send", errcode=-1, times=1)
        wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA)
        assert len(emulator.control("GET", "/device_sent")) == 1

    def test_busy_every_time_raises_system_busy(self, wechat, emulator, device):
        openid = subscriber(emulator, wechat)
        emulator.fault(api="device_subscribe_send", errcode=-1)
        with pytest.raises(SystemBusy):
            wechat.device.send([openid], LAUNDRY_DONE, WASHER_MODEL, SN, LAUNDRY_DATA)
