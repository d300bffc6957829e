"""The emulator's user-data push (authorized_user_information_changes) as WeChat sends it:
the user in `OpenID`, WeChat's push account in `FromUserName`, no List, and in JSON the keys
WeChat's own sample writes with a space when asked."""

from __future__ import annotations

import json

import pytest

from wxemu import crypto
from wxemu.pusher import PLATFORM_ACCOUNT, PushTarget, signed_request, user_data_message

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_json_and_xml_carry_the_user_in_openid():
    message = user_data_message("wx1", "oUser", "user_authorization_revoke", "8", create_time=1700000000)
    _, body, _ = signed_request(PushTarget("u", "t", "wx1", format="json"), message)
    assert json.loads(body) == {
        "ToUserName": message["ToUserName"],
        "FromUserName": PLATFORM_ACCOUNT,
        "CreateTime": "1700000000",
        "MsgType": "event",
        "Event": "user_authorization_revoke",
        "OpenID": "oUser",
        "AppID": "wx1",
        "RevokeInfo": "8",
    }
    _, xml, _ = signed_request(PushTarget("u", "t", "wx1", format="xml"), message)
    assert "<OpenID><![CDATA[oUser]]></OpenID>" in xml and "<List>" not in xml
    assert "<CreateTime>1700000000</CreateTime>" in xml


def test_safe_mode_encrypts_with_the_emulators_own_crypto():
    message = user_data_message("wx1", "oUser", "user_authorization_cancellation")
    query, body, _ = signed_request(PushTarget("u", "t", "wx1", AES_KEY, format="json", mode="safe"), message)
    encrypted = json.loads(body)["Encrypt"]
    assert query["msg_signature"] == crypto.sign("t", query["timestamp"], query["nonce"], encrypted)
    assert json.loads(crypto.decrypt(AES_KEY, encrypted)[0])["OpenID"] == "oUser"


@pytest.mark.parametrize("event", ["user_info_modified", "user_authorization_cancellation"])
def test_control_call_without_a_push_target_answers_no_status(emulator, event):
    answer = emulator.post("/_emulator/user-data", json={"openid": "oUser", "event": event})
    assert answer.status_code == 200 and answer.get_json() == {"push_status": None}


def test_control_call_refuses_other_events(emulator):
    answer = emulator.post("/_emulator/user-data", json={"openid": "oUser", "event": "subscribe_msg_popup_event"})
    assert answer.status_code == 400
