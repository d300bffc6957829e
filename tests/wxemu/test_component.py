"""The emulator as an open platform (docs/wechat.md §14): the token chain, grants, revokes, 48001, 61xxx."""

from __future__ import annotations

import pytest

from wxemu.component import TICKET_LIFETIME


@pytest.fixture
def platform(state, emulator):
    """(component, a component token)."""
    component = state.component
    ticket = component.new_ticket()
    reply = emulator.post(
        "/cgi-bin/component/api_component_token",
        json={
            "component_appid": component.appid,
            "component_appsecret": component.secret,
            "component_verify_ticket": ticket,
        },
    ).get_json()
    return component, reply["component_access_token"]


def _call(emulator, platform, api: str, **body) -> dict:
    component, token = platform
    url = f"/cgi-bin/component/{api}?component_access_token={token}"
    return emulator.post(url, json={"component_appid": component.appid, **body}).get_json()


def _authorize(emulator, platform, appid: str, func_ids=(18,)) -> dict:
    code = emulator.post("/_emulator/component/authorize", json={"appid": appid, "func_ids": list(func_ids)})
    return _call(emulator, platform, "api_query_auth", authorization_code=code.get_json()["authorization_code"])[
        "authorization_info"
    ]


def _send(emulator, token: str) -> dict:
    return emulator.post(f"/cgi-bin/message/subscribe/send?access_token={token}", json={"touser": "nobody"}).get_json()


def test_tickets_expire_after_12_hours_and_unknown_ones_are_invalid(state, emulator):
    component = state.component
    ticket = component.new_ticket()
    body = {"component_appid": component.appid, "component_appsecret": component.secret}
    answer = emulator.post("/cgi-bin/component/api_component_token", json={**body, "component_verify_ticket": "x"})
    assert answer.get_json()["errcode"] == 61006
    emulator.post("/_emulator/clock", json={"advance": TICKET_LIFETIME - 60})
    ok = emulator.post("/cgi-bin/component/api_component_token", json={**body, "component_verify_ticket": ticket})
    assert "component_access_token" in ok.get_json()
    emulator.post("/_emulator/clock", json={"advance": 120})
    late = emulator.post("/cgi-bin/component/api_component_token", json={**body, "component_verify_ticket": ticket})
    assert late.get_json()["errcode"] == 61005


def test_authorizer_tokens_work_on_mini_program_apis_and_the_component_token_does_not(emulator, platform):
    info = _authorize(emulator, platform, "wxmerchant0001")
    assert info["func_info"] == [{"funcscope_category": {"id": 18}}]
    assert _send(emulator, info["authorizer_access_token"])["errcode"] == 40003  # accepted: the openid is unknown
    assert _send(emulator, platform[1])["errcode"] == 48001


def test_without_set_18_the_authorizer_token_is_refused_61007(emulator, platform):
    info = _authorize(emulator, platform, "wxmerchant0002", func_ids=(17,))
    assert _send(emulator, info["authorizer_access_token"])["errcode"] == 61007


def test_refresh_rotates_the_refresh_token_and_the_old_one_lives_5_minutes(emulator, platform):
    info = _authorize(emulator, platform, "wxmerchant0003")
    old = info["authorizer_refresh_token"]
    first = _call(
        emulator, platform, "api_authorizer_token", authorizer_appid="wxmerchant0003", authorizer_refresh_token=old
    )
    assert first["authorizer_refresh_token"] != old
    emulator.post("/_emulator/clock", json={"advance": 301})
    again = _call(
        emulator, platform, "api_authorizer_token", authorizer_appid="wxmerchant0003", authorizer_refresh_token=old
    )
    assert again["errcode"] == 61023
    listed = _call(emulator, platform, "api_get_authorizer_list", offset=0, count=500)
    assert listed["list"][0]["refresh_token"] == first["authorizer_refresh_token"]


def test_reauthorization_kills_the_live_token_and_revoke_kills_everything(emulator, platform):
    info = _authorize(emulator, platform, "wxmerchant0004")
    again = emulator.post("/_emulator/component/authorize", json={"appid": "wxmerchant0004"}).get_json()
    assert again["info_type"] == "updateauthorized"
    assert _send(emulator, info["authorizer_access_token"])["errcode"] == 40001
    emulator.post("/_emulator/component/revoke", json={"appid": "wxmerchant0004"})
    refreshed = _call(
        emulator,
        platform,
        "api_authorizer_token",
        authorizer_appid="wxmerchant0004",
        authorizer_refresh_token=info["authorizer_refresh_token"],
    )
    assert refreshed["errcode"] == 61003


def test_component_log_in_needs_an_authorization(state, emulator, platform):
    component, token = platform
    _authorize(emulator, platform, "wxmerchant0005")
    code = emulator.post("/_emulator/login_codes", json={"appid": "wxmerchant0005"}).get_json()
    query = {
        "appid": "wxmerchant0005",
        "js_code": code["code"],
        "grant_type": "authorization_code",
        "component_appid": component.appid,
        "component_access_token": token,
    }
    assert emulator.get("/sns/component/jscode2session", query_string=query).get_json()["openid"] == code["openid"]
    emulator.post("/_emulator/component/revoke", json={"appid": "wxmerchant0005"})
    code = emulator.post("/_emulator/login_codes", json={"appid": "wxmerchant0005"}).get_json()
    query["js_code"] = code["code"]
    assert emulator.get("/sns/component/jscode2session", query_string=query).get_json()["errcode"] == 61003


def test_61xxx_faults_can_be_injected(emulator, platform):
    emulator.post("/_emulator/faults", json={"api": "api_get_authorizer_list", "errcode": 61004, "times": 1})
    assert _call(emulator, platform, "api_get_authorizer_list", offset=0, count=10)["errcode"] == 61004
