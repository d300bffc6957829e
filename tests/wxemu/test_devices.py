"""The emulator's device subscribe messages (docs/wechat.md §11): getsnticket, the device
popup as the phone plays it, and the device send, errcode by errcode."""

from __future__ import annotations

import pytest

from tests.helpers import LAUNDRY_DATA, LAUNDRY_DONE, WASHER_DEVICE, WASHER_MODEL
from tests.wxemu.test_emulator_api import advance, assert_error, control

FAULT = "tmpl-washer-fault"
SN = "SN-0001_a"
WIRE_DATA = {key: {"value": value} for key, value in LAUNDRY_DATA.items()}


@pytest.fixture
def device(emulator) -> dict:
    return control(emulator, "/devices", **WASHER_DEVICE)


def ticket(emulator, token: str, sn: str = SN, model_id: str = WASHER_MODEL) -> dict:
    body = {"sn": sn, "model_id": model_id}
    return emulator.post(f"/wxa/getsnticket?access_token={token}", json=body).get_json()


def popup(emulator, openid: str, sn_ticket: str, results: dict, sn: str = SN, model_id: str = WASHER_MODEL) -> dict:
    body = {"openid": openid, "model_id": model_id, "sn": sn, "sn_ticket": sn_ticket, "results": results}
    return control(emulator, "/device_popup", **body)


def subscribe(emulator, token: str, openid: str, result: str = "accept", sn: str = SN) -> dict:
    return popup(emulator, openid, ticket(emulator, token, sn)["sn_ticket"], {LAUNDRY_DONE: result}, sn=sn)


def device_send(emulator, token: str, openids: list[str], **overrides) -> dict:
    body = {
        "to_openid_list": openids,
        "template_id": LAUNDRY_DONE,
        "modelId": WASHER_MODEL,
        "sn": SN,
        "data": WIRE_DATA,
        **overrides,
    }
    body = {key: value for key, value in body.items() if value is not None}
    return emulator.post(f"/cgi-bin/message/device/subscribe/send?access_token={token}", json=body).get_json()


def sent(emulator) -> list[dict]:
    return control(emulator, "/device_sent", method="GET")


class TestRegistration:
    def test_device_templates_are_long_term_and_listed_with_their_enum_values(self, emulator, device, token):
        listed = {item["priTmplId"]: item for item in device["templates"]}
        assert listed[LAUNDRY_DONE]["type"] == 3
        assert listed[LAUNDRY_DONE]["keywordEnumValueList"] == [
            {"keywordCode": "thing1.DATA", "enumValueList": ["洗衣完成", "烘干完成"]},
            {"keywordCode": "phrase2.DATA", "enumValueList": ["请及时取衣"]},
        ]
        synced = emulator.get("/wxaapi/newtmpl/gettemplate", query_string={"access_token": token}).get_json()
        assert {item["priTmplId"] for item in synced["data"]} == {LAUNDRY_DONE, FAULT}
        assert control(emulator, "/devices", method="GET")["devices"] == [
            {"model_id": WASHER_MODEL, "templates": sorted([LAUNDRY_DONE, FAULT])}
        ]

    def test_a_keyword_without_enum_values_is_refused(self, emulator):
        body = {"model_id": "m", "templates": [{"priTmplId": "t", "title": "T", "keywords": [{"key": "thing1"}]}]}
        response = emulator.post("/_emulator/devices", json=body)
        assert response.status_code == 400
        assert "enum" in response.get_json()["error"]

    def test_a_template_id_belongs_to_one_device_type(self, emulator, device):
        response = emulator.post("/_emulator/devices", json={**WASHER_DEVICE, "model_id": "another-model"})
        assert response.status_code == 400

    def test_reset_forgets_device_types(self, emulator, device, token):
        control(emulator, "/reset")
        assert control(emulator, "/devices", method="GET")["devices"] == []


class TestSnTicket:
    def test_a_ticket_for_a_known_model(self, emulator, device, token):
        reply = ticket(emulator, token)
        assert reply["errcode"] == 0 and reply["errmsg"] == "ok"
        assert isinstance(reply["sn_ticket"], str) and len(reply["sn_ticket"]) >= 16

    def test_sn_over_128_bytes_9800001(self, emulator, device, token):
        assert_error(ticket(emulator, token, sn="a" * 129), 9800001, "sn长度不能超过128字节")
        assert ticket(emulator, token, sn="a" * 128)["errcode"] == 0

    @pytest.mark.parametrize("sn", ["SN 1", "SN/1", "设备1", "SN.1"])
    def test_illegal_characters_9800002(self, emulator, device, token, sn):
        assert_error(ticket(emulator, token, sn=sn), 9800002, "sn包含非法字符")

    def test_unknown_model_9800003(self, emulator, device, token):
        assert_error(ticket(emulator, token, model_id="no-such-model"), 9800003, "model_id检查不通过")

    def test_missing_fields_and_token(self, emulator, device, token):
        reply = emulator.post(f"/wxa/getsnticket?access_token={token}", json={"sn": SN}).get_json()
        assert_error(reply, 47001)
        assert_error(emulator.post("/wxa/getsnticket", json={"sn": SN, "model_id": WASHER_MODEL}).get_json(), 41001)

    def test_an_injected_fault_by_api_name(self, emulator, device, token):
        control(emulator, "/faults", api="getsnticket", errcode=-1, times=1)
        assert_error(ticket(emulator, token), -1)
        assert ticket(emulator, token)["errcode"] == 0


class TestPopup:
    def test_accept_and_accept_with_audio_subscribe_that_device_only(self, emulator, device, token, make_user):
        openid = make_user()
        sn_ticket = ticket(emulator, token)["sn_ticket"]
        answer = popup(emulator, openid, sn_ticket, {LAUNDRY_DONE: "acceptWithAudio", FAULT: "reject"})
        assert answer["result"] == {
            "errMsg": "requestSubscribeDeviceMessage:ok",
            LAUNDRY_DONE: "acceptWithAudio",
            FAULT: "reject",
        }
        assert sorted(answer["subscriptions"], key=lambda sub: sub["template_id"]) == [
            {"template_id": LAUNDRY_DONE, "model_id": WASHER_MODEL, "sn": SN, "status": "accept", "audio": True},
            {"template_id": FAULT, "model_id": WASHER_MODEL, "sn": SN, "status": "reject", "audio": False},
        ]
        # The same ticket serves another tap while it is valid.
        again = popup(emulator, openid, sn_ticket, {LAUNDRY_DONE: "accept"})
        assert again["result"]["errMsg"].endswith(":ok")
        listed = control(emulator, f"/device_subscriptions?openid={openid}", method="GET")["subscriptions"]
        assert {
            "template_id": LAUNDRY_DONE,
            "model_id": WASHER_MODEL,
            "sn": SN,
            "status": "accept",
            "audio": False,
        } in (listed)

    def test_an_expired_ticket_19720727(self, emulator, device, token, make_user):
        openid = make_user()
        sn_ticket = ticket(emulator, token)["sn_ticket"]
        advance(emulator, 299)
        assert popup(emulator, openid, sn_ticket, {LAUNDRY_DONE: "accept"})["result"]["errMsg"].endswith(":ok")
        advance(emulator, 1)
        answer = popup(emulator, openid, sn_ticket, {FAULT: "accept"})
        assert answer["result"] == {
            "errMsg": "requestSubscribeDeviceMessage:fail sn_ticket expire",
            "errCode": 19720727,
        }
        assert [sub["template_id"] for sub in answer["subscriptions"]] == [LAUNDRY_DONE]

    def test_a_ticket_of_another_device_or_none_19720726(self, emulator, device, token, make_user):
        openid = make_user()
        other = ticket(emulator, token, sn="SN-0002")["sn_ticket"]
        for sn_ticket in (other, "made-up", None):
            answer = popup(emulator, openid, sn_ticket, {LAUNDRY_DONE: "accept"})
            assert answer["result"]["errCode"] == 19720726
            assert answer["subscriptions"] == []

    def test_template_checks_19720728_19720736_and_counts(self, emulator, device, token, make_user):
        control(
            emulator,
            "/devices",
            model_id="door-lock",
            templates=[{**WASHER_DEVICE["templates"][1], "priTmplId": "tmpl-door"}],
        )
        openid = make_user()
        sn_ticket = ticket(emulator, token)["sn_ticket"]
        assert popup(emulator, openid, sn_ticket, {"tmpl-none": "accept"})["result"]["errCode"] == 19720728
        assert popup(emulator, openid, sn_ticket, {"tmpl-door": "accept"})["result"]["errCode"] == 19720736
        assert popup(emulator, openid, sn_ticket, {})["result"]["errCode"] == 10001
        four = {LAUNDRY_DONE: "accept", FAULT: "accept", "a": "accept", "b": "accept"}
        assert popup(emulator, openid, sn_ticket, four)["result"]["errCode"] == 20003

    def test_results_must_be_popup_answers(self, emulator, device, token, make_user):
        body = {
            "openid": make_user(),
            "model_id": WASHER_MODEL,
            "sn": SN,
            "sn_ticket": "x",
            "results": {LAUNDRY_DONE: "yes"},
        }
        assert emulator.post("/_emulator/device_popup", json=body).status_code == 400


class TestDeviceSend:
    def test_reaches_a_subscriber_with_modelid_or_model_id(self, emulator, device, token, make_user):
        openid = make_user()
        subscribe(emulator, token, openid)
        reply = device_send(emulator, token, [openid])
        assert reply["errcode"] == 0 and "msgid" not in reply
        reply = device_send(emulator, token, [openid], modelId=None, model_id=WASHER_MODEL)
        assert reply["errcode"] == 0
        assert [(m["touser"], m["model_id"], m["sn"], m["data"]) for m in sent(emulator)] == [
            (openid, WASHER_MODEL, SN, WIRE_DATA)
        ] * 2
        logged = emulator.get("/_emulator/log").get_json()["calls"][-1]
        assert logged["api"] == "device_subscribe_send" and logged["to_openid_list"] == [openid]

    def test_model_id_missing_or_spelled_two_ways_differently_47001(self, emulator, device, token, make_user):
        openid = make_user()
        subscribe(emulator, token, openid)
        assert_error(device_send(emulator, token, [openid], modelId=None), 47001)
        assert_error(device_send(emulator, token, [openid], model_id="other"), 47001)
        assert device_send(emulator, token, [openid], model_id=WASHER_MODEL)["errcode"] == 0  # both, the same

    def test_an_ordinary_template_40037(self, emulator, device, token, make_user, make_template):
        openid = make_user()
        subscribe(emulator, token, openid)
        assert_error(device_send(emulator, token, [openid], template_id=make_template()), 40037, "invalid template_id")
        assert_error(device_send(emulator, token, [openid], template_id="nope"), 40037)

    @pytest.mark.parametrize(
        ("data", "wording"),
        [
            ({"thing1": {"value": "洗好了"}, "phrase2": {"value": "请及时取衣"}}, "data.thing1.value invalid"),
            ({"thing1": {"value": "洗衣完成"}}, "data.phrase2.value is empty"),
        ],
    )
    def test_a_value_outside_the_enum_47003(self, emulator, device, token, make_user, data, wording):
        openid = make_user()
        subscribe(emulator, token, openid)
        assert_error(device_send(emulator, token, [openid], data=data), 47003, f"argument invalid! {wording}")
        assert sent(emulator) == []

    def test_a_rejected_or_cancelled_subscription_43101(self, emulator, device, token, make_user):
        rejected, cancelled, never = make_user(), make_user(), make_user()
        subscribe(emulator, token, rejected, "reject")
        subscribe(emulator, token, cancelled)
        control(emulator, "/device_settings", openid=cancelled, template_id=LAUNDRY_DONE, model_id=WASHER_MODEL, sn=SN)
        for openid in (rejected, cancelled, never):
            assert_error(device_send(emulator, token, [openid]), 43101)

    def test_a_subscription_for_another_sn_9800006(self, emulator, device, token, make_user):
        openid = make_user()
        subscribe(emulator, token, openid, sn="SN-0002")
        assert_error(device_send(emulator, token, [openid]), 9800006, "订阅model_id和sn关系检查失败")
        assert device_send(emulator, token, [openid], sn="SN-0002")["errcode"] == 0

    def test_every_recipient_is_checked_before_any_is_delivered(self, emulator, device, token, make_user):
        subscribed, other = make_user(), make_user()
        subscribe(emulator, token, subscribed)
        assert_error(device_send(emulator, token, [subscribed, other]), 43101)
        assert sent(emulator) == []
        assert_error(device_send(emulator, token, []), 40032)
        assert_error(device_send(emulator, token, ["o-unknown"]), 40003)
