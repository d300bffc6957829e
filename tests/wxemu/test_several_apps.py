"""The emulator hosting several mini programs: each its own secret, users, templates and tokens."""

from __future__ import annotations

import pytest

from tests.wxemu.samples import ORDER_TEMPLATE
from wxemu import EmulatorState, create_emulator_app
from wxemu.apps_file import AppsFileError, read_apps_file
from wxemu.defaults import DEV_APPID, DEV_SECRET

B, SECRET_B = "wxb0000000000b0002", "secret-of-b"


@pytest.fixture
def two(emulator):
    assert emulator.post("/_emulator/apps", json={"appid": B, "secret": SECRET_B}).status_code == 200
    return emulator


def token_of(emulator, appid: str, secret: str) -> str:
    body = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    return emulator.post("/cgi-bin/stable_token", json=body).get_json()["access_token"]


def login(emulator, appid: str, secret: str, code: str) -> dict:
    query = {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
    return emulator.get("/sns/jscode2session", query_string=query).get_json()


def test_one_person_has_an_openid_per_app_and_one_unionid(two):
    in_default = two.post("/_emulator/login_codes", json={"unionid": "u-1"}).get_json()
    in_b = two.post("/_emulator/login_codes", json={"unionid": "u-1", "appid": B}).get_json()
    assert in_default["openid"] != in_b["openid"] and in_b["appid"] == B
    again = two.post("/_emulator/login_codes", json={"unionid": "u-1", "appid": B}).get_json()
    assert again["openid"] == in_b["openid"]  # the same person in B keeps B's openid
    session = login(two, B, SECRET_B, in_b["code"])
    assert (session["openid"], session["unionid"]) == (in_b["openid"], "u-1")


def test_codes_and_secrets_belong_to_their_app(two):
    code_b = two.post("/_emulator/login_codes", json={"appid": B}).get_json()["code"]
    assert login(two, DEV_APPID, DEV_SECRET, code_b)["errcode"] == 40029  # B's code, the default app
    assert login(two, B, DEV_SECRET, code_b)["errcode"] == 40125  # B with another app's secret
    assert login(two, "wx-unknown", SECRET_B, code_b)["errcode"] == 40013


def test_a_token_acts_for_its_own_app_only(two):
    two.post("/_emulator/templates", json={**ORDER_TEMPLATE, "appid": B})
    user_b = two.post("/_emulator/users", json={"appid": B}).get_json()["openid"]
    two.post("/_emulator/popup", json={"openid": user_b, "results": {ORDER_TEMPLATE["priTmplId"]: "accept"}})
    default_token, b_token = token_of(two, DEV_APPID, DEV_SECRET), token_of(two, B, SECRET_B)
    assert default_token != b_token
    listed = two.get("/wxaapi/newtmpl/gettemplate", query_string={"access_token": default_token}).get_json()
    assert listed["data"] == []  # the template is B's
    send = {"touser": user_b, "template_id": ORDER_TEMPLATE["priTmplId"], "data": {"thing1": {"value": "x"}}}
    reply = two.post("/cgi-bin/message/subscribe/send", query_string={"access_token": default_token}, json=send)
    assert reply.get_json()["errcode"] == 40003  # B's user is nobody in the default app


def test_invalidating_one_apps_tokens_leaves_the_others(two):
    default_token, b_token = token_of(two, DEV_APPID, DEV_SECRET), token_of(two, B, SECRET_B)
    two.post("/_emulator/tokens/invalidate", json={"appid": B})
    check = {"access_token": default_token}
    assert two.get("/wxaapi/newtmpl/gettemplate", query_string=check).get_json()["errcode"] == 0
    check = {"access_token": b_token}
    assert two.get("/wxaapi/newtmpl/gettemplate", query_string=check).get_json()["errcode"] == 40001


def test_an_unknown_app_in_a_control_call_is_a_400(emulator):
    response = emulator.post("/_emulator/login_codes", json={"appid": B})
    assert response.status_code == 400 and "unknown app" in response.get_json()["error"]


def test_reset_forgets_added_apps_and_keeps_those_of_the_file(tmp_path):
    path = tmp_path / "apps.toml"
    path.write_text(f'[[app]]\nappid = "{B}"\nsecret = "{SECRET_B}"\ntoken = "t"\nname = "ignored"\n')
    state = EmulatorState(apps=read_apps_file(str(path)))
    client = create_emulator_app(state).test_client()
    client.post("/_emulator/apps", json={"appid": "wxc", "secret": "s"})
    client.post("/_emulator/login_codes", json={"appid": B})
    client.post("/_emulator/reset")
    assert client.get("/_emulator/apps").get_json()["apps"] == sorted([DEV_APPID, B])
    assert state.apps[B].users == {} and state.apps[B].push_token == "t"


def test_an_apps_file_without_secret_is_refused(tmp_path):
    path = tmp_path / "apps.toml"
    path.write_text(f'[[app]]\nappid = "{B}"\n')
    with pytest.raises(AppsFileError, match="needs an appid and a secret"):
        read_apps_file(str(path))
