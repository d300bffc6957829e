"""The emulator's WeChat-facing routes and control API, errcode by errcode (docs/wechat.md)."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests

from tests.wxemu.samples import ORDER_DATA, ORDER_TEMPLATE, RID
from wxemu import EmulatorState, run_in_thread
from wxemu.defaults import DEV_APPID, DEV_SECRET

CREDENTIALS = {"appid": DEV_APPID, "secret": DEV_SECRET}
MODERN_40001 = (
    "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken"
)


def assert_error(reply: dict, errcode: int, wording: str | None = None) -> None:
    """An error reply: the errcode, WeChat's wording (when given) and a trailing rid."""
    assert reply["errcode"] == errcode, reply
    assert re.search(RID, reply["errmsg"]), reply["errmsg"]
    if wording is not None:
        assert reply["errmsg"].startswith(wording), reply["errmsg"]


def control(emulator, path: str, method: str = "POST", **body) -> dict | list:
    response = emulator.open(f"/_emulator{path}", method=method, json=body or None)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def advance(emulator, seconds: float) -> None:
    control(emulator, "/clock", advance=seconds)


def gettemplate(emulator, access_token: str | None) -> dict:
    query = {} if access_token is None else {"access_token": access_token}
    return emulator.get("/wxaapi/newtmpl/gettemplate", query_string=query).get_json()


def login(emulator, code: str, **overrides: str | None) -> dict:
    query = {**CREDENTIALS, "js_code": code, "grant_type": "authorization_code", **overrides}
    query = {k: v for k, v in query.items() if v is not None}
    return emulator.get("/sns/jscode2session", query_string=query).get_json()


# --- jscode2session ---------------------------------------------------------------------


class TestCodeToSession:
    def test_success_has_openid_session_key_unionid_and_no_errcode(self, emulator):
        issued = control(emulator, "/login_codes", unionid="union-1")
        reply = login(emulator, issued["code"])
        assert reply["openid"] == issued["openid"]
        assert reply["unionid"] == "union-1"
        assert len(reply["session_key"]) == 24  # base64 of 16 bytes, like WeChat's
        assert "errcode" not in reply

    def test_unionid_only_when_bound(self, emulator):
        reply = login(emulator, control(emulator, "/login_codes")["code"])
        assert "unionid" not in reply

    def test_fresh_session_key_each_login(self, emulator, make_user):
        openid = make_user()
        first = login(emulator, control(emulator, "/login_codes", openid=openid)["code"])
        second = login(emulator, control(emulator, "/login_codes", openid=openid)["code"])
        assert first["openid"] == second["openid"] == openid
        assert first["session_key"] != second["session_key"]

    def test_code_is_single_use_40163(self, emulator):
        code = control(emulator, "/login_codes")["code"]
        login(emulator, code)
        assert_error(login(emulator, code), 40163, "code been used")

    def test_unknown_code_40029(self, emulator):
        assert_error(login(emulator, "never-issued"), 40029, "invalid code")

    @pytest.mark.parametrize(
        ("overrides", "errcode", "wording"),
        [
            ({"appid": None}, 41002, "appid missing"),
            ({"secret": None}, 41004, "appsecret missing"),
            ({"js_code": None}, 41008, "missing code"),
            ({"appid": "wx0000000000000bad"}, 40013, "invalid appid"),
            ({"secret": "wrong"}, 40125, "invalid appsecret"),
            ({"grant_type": "client_credential"}, 40002, "invalid grant_type"),
        ],
    )
    def test_parameter_errors(self, emulator, overrides, errcode, wording):
        code = control(emulator, "/login_codes")["code"]
        assert_error(login(emulator, code, **overrides), errcode, wording)


# --- cgi-bin/token ----------------------------------------------------------------------


class TestClassicToken:
    def test_success(self, classic_token):
        reply = classic_token()
        assert reply["expires_in"] == 7200
        assert len(reply["access_token"]) >= 100

    @pytest.mark.parametrize(
        ("query", "errcode"),
        [
            ({"appid": DEV_APPID, "secret": DEV_SECRET}, 40002),
            ({"grant_type": "authorization_code", **CREDENTIALS}, 40002),
            ({"grant_type": "client_credential", "secret": DEV_SECRET}, 41002),
            ({"grant_type": "client_credential", "appid": DEV_APPID}, 41004),
            ({"grant_type": "client_credential", "appid": "wxbad", "secret": DEV_SECRET}, 40013),
            ({"grant_type": "client_credential", "appid": DEV_APPID, "secret": "bad"}, 40125),
        ],
    )
    def test_errors(self, emulator, query, errcode):
        assert_error(emulator.get("/cgi-bin/token", query_string=query).get_json(), errcode)

    def test_new_token_leaves_the_old_one_300_seconds(self, emulator, classic_token):
        old = classic_token()["access_token"]
        new = classic_token()["access_token"]
        assert old != new
        advance(emulator, 299)
        assert gettemplate(emulator, old)["errcode"] == 0
        advance(emulator, 2)
        assert_error(gettemplate(emulator, old), 40001, MODERN_40001)
        assert gettemplate(emulator, new)["errcode"] == 0

    def test_grace_period_ends_at_the_old_tokens_expiry(self, emulator, classic_token):
        control(emulator, "/config", token_ttl=400)
        old = classic_token()["access_token"]
        advance(emulator, 200)
        classic_token()
        advance(emulator, 201)  # 401 s after issue: expired before its grace ran out
        assert_error(gettemplate(emulator, old), 42001, "access_token expired")

    def test_stable_and_classic_tokens_are_independent(self, emulator, classic_token, stable_token):
        stable = stable_token()["access_token"]
        classic = classic_token()["access_token"]
        stable_token(force_refresh=True)  # kills the stable token only
        assert gettemplate(emulator, classic)["errcode"] == 0
        classic_token()
        advance(emulator, 301)  # the old classic one is gone now, the stable one never was
        assert gettemplate(emulator, classic)["errcode"] == 40001
        assert gettemplate(emulator, stable)["errcode"] == 40001  # force-refreshed earlier


# --- using a token ------------------------------------------------------------------------


class TestTokenUse:
    def test_missing_41001(self, emulator):
        assert_error(gettemplate(emulator, None), 41001, "access_token missing")

    def test_unknown_40001_modern_wording(self, emulator):
        assert_error(gettemplate(emulator, "not-a-token"), 40001, MODERN_40001)

    def test_expired_42001(self, emulator, token):
        advance(emulator, 7199)
        assert gettemplate(emulator, token)["errcode"] == 0
        advance(emulator, 2)
        assert_error(gettemplate(emulator, token), 42001, "access_token expired")

    def test_invalidate_all_40001(self, emulator, token, classic_token):
        classic = classic_token()["access_token"]
        control(emulator, "/tokens/invalidate")
        assert_error(gettemplate(emulator, token), 40001)
        assert_error(gettemplate(emulator, classic), 40001)

    def test_token_ttl_is_configurable(self, emulator, stable_token, classic_token):
        control(emulator, "/config", token_ttl=600)
        assert stable_token()["expires_in"] == 600
        assert classic_token()["expires_in"] == 600


# --- cgi-bin/stable_token -------------------------------------------------------------------


class TestStableToken:
    def test_get_is_43002(self, emulator):
        reply = emulator.get("/cgi-bin/stable_token").get_json()
        assert_error(reply, 43002, "require POST method")

    def test_same_token_with_remaining_expires_in(self, emulator, stable_token):
        first = stable_token()
        assert first["expires_in"] == 7200
        advance(emulator, 1000)
        second = stable_token()
        assert second["access_token"] == first["access_token"]
        assert isinstance(second["expires_in"], int)
        assert 6199 <= second["expires_in"] <= 6200

    def test_renewed_in_the_last_300_seconds_old_stays_to_expiry(self, emulator, stable_token):
        old = stable_token()["access_token"]
        advance(emulator, 6950)  # 250 s left
        renewed = stable_token()
        assert renewed["access_token"] != old
        assert renewed["expires_in"] == 7200
        assert gettemplate(emulator, old)["errcode"] == 0
        advance(emulator, 251)
        assert gettemplate(emulator, old)["errcode"] == 42001
        assert gettemplate(emulator, renewed["access_token"])["errcode"] == 0

    def test_force_refresh_invalidates_at_once(self, emulator, stable_token):
        old = stable_token()["access_token"]
        new = stable_token(force_refresh=True)["access_token"]
        assert new != old
        assert_error(gettemplate(emulator, old), 40001)
        assert gettemplate(emulator, new)["errcode"] == 0

    def test_force_refresh_needs_30_seconds_gap(self, emulator, stable_token):
        first = stable_token(force_refresh=True)["access_token"]
        advance(emulator, 29)
        assert stable_token(force_refresh=True)["access_token"] == first  # no refresh
        assert gettemplate(emulator, first)["errcode"] == 0
        advance(emulator, 2)
        assert stable_token(force_refresh=True)["access_token"] != first

    def test_force_refresh_20_per_day_then_45009(self, emulator, state, stable_token):
        with state.lock:
            beijing_seconds = (state.now() + 8 * 3600) % 86400
        advance(emulator, 86400 - beijing_seconds + 1)  # just after a Beijing midnight
        for _ in range(20):
            assert "access_token" in stable_token(force_refresh=True)
            advance(emulator, 31)
        assert_error(stable_token(force_refresh=True), 45009, "reach max api daily quota limit")
        assert "access_token" in stable_token()  # normal mode still works
        advance(emulator, 86400)
        assert "access_token" in stable_token(force_refresh=True)

    @pytest.mark.parametrize(
        ("body", "errcode"),
        [
            ({"appid": DEV_APPID, "secret": DEV_SECRET}, 40002),
            ({"grant_type": "client_credential", "secret": DEV_SECRET}, 41002),
            ({"grant_type": "client_credential", "appid": DEV_APPID}, 41004),
            ({"grant_type": "client_credential", "appid": "wxbad", "secret": DEV_SECRET}, 40013),
            ({"grant_type": "client_credential", "appid": DEV_APPID, "secret": "bad"}, 40125),
            ({"grant_type": "client_credential", **CREDENTIALS, "force_refresh": "yes"}, 47001),
        ],
    )
    def test_errors(self, emulator, body, errcode):
        assert_error(emulator.post("/cgi-bin/stable_token", json=body).get_json(), errcode)

    def test_body_must_be_json(self, emulator):
        form = {"grant_type": "client_credential", **CREDENTIALS}
        assert_error(emulator.post("/cgi-bin/stable_token", data=form).get_json(), 47001)
        assert_error(emulator.post("/cgi-bin/stable_token").get_json(), 44002)


# --- getuserphonenumber ------------------------------------------------------------------


class TestPhoneNumber:
    def phone(self, emulator, token, **body) -> dict:
        url = f"/wxa/business/getuserphonenumber?access_token={token}"
        return emulator.post(url, json=body).get_json()

    def test_success(self, emulator, token, make_user):
        openid = make_user()
        code = control(emulator, "/phone_codes", openid=openid, phone_number="13800138000")["code"]
        reply = self.phone(emulator, token, code=code, openid=openid)
        assert reply["errcode"] == 0 and reply["errmsg"] == "ok"
        info = reply["phone_info"]
        assert info["phoneNumber"] == info["purePhoneNumber"] == "13800138000"
        assert info["countryCode"] == 86
        assert info["watermark"]["appid"] == DEV_APPID
        assert isinstance(info["watermark"]["timestamp"], int)

    def test_country_code_as_registered(self, emulator, token):
        code = control(emulator, "/phone_codes", phone_number="91234567", country_code="852")
        info = self.phone(emulator, token, code=code["code"])["phone_info"]
        assert info["countryCode"] == "852"
        assert info["purePhoneNumber"] == "91234567"
        assert info["phoneNumber"].startswith("+852")

    def test_single_use_40029(self, emulator, token):
        code = control(emulator, "/phone_codes", phone_number="13800138000")["code"]
        assert self.phone(emulator, token, code=code)["errcode"] == 0
        assert_error(self.phone(emulator, token, code=code), 40029, "invalid code")

    def test_expires_after_5_minutes_40029(self, emulator, token):
        code = control(emulator, "/phone_codes", phone_number="13800138000")["code"]
        advance(emulator, 301)
        assert_error(self.phone(emulator, token, code=code), 40029)

    def test_unknown_40029(self, emulator, token):
        assert_error(self.phone(emulator, token, code="nope"), 40029)

    def test_openid_not_bound_to_code_40013(self, emulator, token, make_user):
        owner, other = make_user(), make_user()
        code = control(emulator, "/phone_codes", openid=owner, phone_number="13800138000")["code"]
        assert_error(self.phone(emulator, token, code=code, openid=other), 40013, "invalid appid")
        assert self.phone(emulator, token, code=code, openid=owner)["errcode"] == 0

    def test_needs_a_token(self, emulator):
        reply = emulator.post("/wxa/business/getuserphonenumber", json={"code": "x"}).get_json()
        assert_error(reply, 41001)


# --- subscribe/send ---------------------------------------------------------------------


@pytest.fixture
def order(make_template) -> str:
    return make_template()


@pytest.fixture
def user(make_user) -> str:
    return make_user()


class TestSend:
    def test_success_spends_one_credit_and_records_the_message(self, emulator, send, user, order, accept):
        assert accept(user, order)[order] == {"remaining": 1, "status": "accept"}
        reply = send(touser=user, template_id=order, data=ORDER_DATA, page="pages/index/index")
        assert reply["errcode"] == 0 and reply["errmsg"] == "ok"
        msgid = reply["msgid"]
        assert isinstance(msgid, int) and 0 < msgid < 2**63
        [sent] = control(emulator, "/sent", method="GET")
        assert sent["msgid"] == msgid
        assert sent["touser"] == user and sent["template_id"] == order
        assert sent["data"] == ORDER_DATA
        assert (sent["page"], sent["miniprogram_state"], sent["lang"]) == ("pages/index/index", "formal", "zh_CN")
        subs = control(emulator, f"/subscriptions?openid={user}", method="GET")["subscriptions"]
        assert subs[order]["remaining"] == 0

    def test_43101_after_credits_are_used(self, send, user, order, accept):
        assert_error(send(touser=user, template_id=order, data=ORDER_DATA), 43101)
        accept(user, order)
        accept(user, order)  # credits accumulate
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0
        reply = send(touser=user, template_id=order, data=ORDER_DATA)
        assert_error(reply, 43101, "user refuse to accept the msg")

    def test_popup_reject_keeps_earlier_credits(self, send, user, order, accept):
        accept(user, order)
        assert accept(user, order, "reject")[order] == {"remaining": 1, "status": "reject"}
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_settings_reject_clears_credits(self, emulator, send, user, order, accept):
        accept(user, order)
        control(emulator, "/settings", openid=user, template_id=order, status="reject")
        assert_error(send(touser=user, template_id=order, data=ORDER_DATA), 43101)

    def test_long_term_consent(self, emulator, send, user, make_template, accept):
        long_term = make_template(priTmplId="tmpl-bus", type=3)
        assert_error(send(touser=user, template_id=long_term, data=ORDER_DATA), 43101)
        assert accept(user, long_term)[long_term] == {"remaining": None, "status": "accept"}
        for _ in range(3):
            assert send(touser=user, template_id=long_term, data=ORDER_DATA)["errcode"] == 0
        control(emulator, "/settings", openid=user, template_id=long_term, status="reject")
        assert_error(send(touser=user, template_id=long_term, data=ORDER_DATA), 43101)

    def test_unknown_touser_40003(self, send, order):
        assert_error(send(touser="o-never-seen", template_id=order, data=ORDER_DATA), 40003, "invalid openid")
        assert_error(send(template_id=order, data=ORDER_DATA), 40003)

    def test_unknown_template_40037(self, send, user):
        reply = send(touser=user, template_id="no-such-template", data=ORDER_DATA)
        assert_error(reply, 40037, "invalid template_id")

    def test_page_allow_list_41030(self, emulator, send, user, order, accept):
        control(emulator, "/config", pages=["pages/index/index", "pages/order/detail"])
        accept(user, order)
        reply = send(touser=user, template_id=order, data=ORDER_DATA, page="pages/nope/nope")
        assert_error(reply, 41030, "invalid page")
        ok = send(touser=user, template_id=order, data=ORDER_DATA, page="pages/order/detail?id=7")
        assert ok["errcode"] == 0
        control(emulator, "/config", pages=None)  # no allow-list: any page
        accept(user, order)
        assert send(touser=user, template_id=order, data=ORDER_DATA, page="x/y")["errcode"] == 0

    @pytest.mark.parametrize("extra", [{"miniprogram_state": "production"}, {"lang": "fr_FR"}, {"lang": 1}])
    def test_bad_state_or_lang_47001(self, send, user, order, accept, extra):
        accept(user, order)
        assert_error(send(touser=user, template_id=order, data=ORDER_DATA, **extra), 47001, "data format error")

    def test_state_and_lang_recorded(self, emulator, send, user, order, accept):
        accept(user, order)
        send(touser=user, template_id=order, data=ORDER_DATA, miniprogram_state="developer", lang="en_US")
        [sent] = control(emulator, "/sent", method="GET")
        assert (sent["miniprogram_state"], sent["lang"]) == ("developer", "en_US")

    def test_missing_keyword_is_empty(self, send, user, order, accept):
        accept(user, order)
        data = {k: v for k, v in ORDER_DATA.items() if k != "time2"}
        reply = send(touser=user, template_id=order, data=data)
        assert_error(reply, 47003, "argument invalid! data.time2.value is empty")

    def test_no_data_names_the_first_keyword(self, send, user, order):
        reply = send(touser=user, template_id=order)
        assert_error(reply, 47003, "argument invalid! data.thing1.value is empty")

    @pytest.mark.parametrize("entry", ["蓝色水壶", {"value": 123}, ["蓝色水壶"]])
    def test_value_must_be_an_object_with_a_string(self, send, user, order, accept, entry):
        accept(user, order)
        reply = send(touser=user, template_id=order, data={**ORDER_DATA, "thing1": entry})
        assert_error(reply, 47003, "argument invalid! data.thing1.value invalid")

    def test_enum_value_outside_the_list(self, send, user, order, accept):
        accept(user, order)
        data = {**ORDER_DATA, "enum_string3": {"value": "邮寄"}}
        assert_error(
            send(touser=user, template_id=order, data=data), 47003, "argument invalid! data.enum_string3.value invalid"
        )

    def test_extra_keys_are_ignored(self, send, user, order, accept):
        accept(user, order)
        data = {**ORDER_DATA, "thing99": {"value": "ignored"}}
        assert send(touser=user, template_id=order, data=data)["errcode"] == 0

    def test_refused_sends_keep_the_credit(self, emulator, send, user, order, accept):
        accept(user, order)
        send(touser=user, template_id=order, data={**ORDER_DATA, "thing1": {"value": "x" * 21}})
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0
        assert len(control(emulator, "/sent", method="GET")) == 1

    def test_token_errors(self, emulator, send, user, order):
        assert_error(send(access_token="bogus", touser=user, template_id=order), 40001)
        reply = emulator.post("/cgi-bin/message/subscribe/send", json={"touser": user})
        assert_error(reply.get_json(), 41001)

    def test_body_errors(self, emulator, token):
        url = f"/cgi-bin/message/subscribe/send?access_token={token}"
        assert_error(emulator.post(url, data="not json").get_json(), 47001)
        assert_error(emulator.post(url, json=["a list"]).get_json(), 47001)
        assert_error(emulator.get(url).get_json(), 43002, "require POST method")

    def test_json_without_content_type_is_read(self, emulator, token, user, order, accept):
        accept(user, order)
        body = json.dumps({"touser": user, "template_id": order, "data": ORDER_DATA})
        url = f"/cgi-bin/message/subscribe/send?access_token={token}"
        assert emulator.post(url, data=body.encode()).get_json()["errcode"] == 0


# --- template management ----------------------------------------------------------------


class TestTemplates:
    def get(self, emulator, token, path: str, **query) -> dict:
        query["access_token"] = token
        return emulator.get(f"/wxaapi/newtmpl/{path}", query_string=query).get_json()

    def post(self, emulator, token, path: str, **kwargs) -> dict:
        return emulator.post(f"/wxaapi/newtmpl/{path}?access_token={token}", **kwargs).get_json()

    def test_gettemplate_lists_private_templates(self, emulator, token, order):
        reply = self.get(emulator, token, "gettemplate")
        assert reply["errcode"] == 0
        [listed] = reply["data"]
        assert listed["priTmplId"] == order
        assert listed["title"] == ORDER_TEMPLATE["title"]
        assert listed["type"] == 2
        assert listed["content"] == (
            "商品名称:{{thing1.DATA}}\n发货时间:{{time2.DATA}}\n配送方式:{{enum_string3.DATA}}\n"
        )
        assert listed["example"].startswith("商品名称:")
        assert listed["keywordEnumValueList"] == [
            {"keywordCode": "enum_string3.DATA", "enumValueList": ["快递", "自提"]}
        ]

    def test_no_enum_list_without_enums(self, emulator, token, make_template):
        make_template(priTmplId="plain", keywords=[{"key": "thing1", "name": "a"}], enums=None)
        [listed] = self.get(emulator, token, "gettemplate")["data"]
        assert "keywordEnumValueList" not in listed

    def test_getpubtemplatekeywords(self, emulator, token):
        reply = self.get(emulator, token, "getpubtemplatekeywords", tid=401)
        assert reply["errcode"] == 0 and reply["count"] == len(reply["data"])
        rules = {item["rule"] for item in reply["data"]}
        assert {"thing", "date", "number", "enum", "name"} <= rules
        assert set(reply["data"][0]) == {"kid", "name", "example", "rule"}

    def test_public_library_covers_the_rules_and_both_kinds(self, emulator, token):
        titles = self.get(emulator, token, "getpubtemplatetitles", ids="616,307,411", start=0, limit=30)
        assert {t["type"] for t in titles["data"]} == {2, 3}
        rules = set()
        for item in titles["data"]:
            keywords = self.get(emulator, token, "getpubtemplatekeywords", tid=item["tid"])
            rules |= {k["rule"] for k in keywords["data"]}
        expected = {"thing", "time", "date", "number", "phrase", "character_string", "amount", "name", "enum"}
        assert expected <= rules

    @pytest.mark.parametrize("tid", [None, "999999", "abc"])
    def test_getpubtemplatekeywords_unknown_tid_200014(self, emulator, token, tid):
        query = {} if tid is None else {"tid": tid}
        assert_error(self.get(emulator, token, "getpubtemplatekeywords", **query), 200014)

    def test_getpubtemplatetitles_pages(self, emulator, token):
        everything = self.get(emulator, token, "getpubtemplatetitles", ids="307", start=0, limit=30)
        assert everything["count"] == len(everything["data"]) >= 2
        assert everything["data"][0]["categoryId"] == "307"
        second = self.get(emulator, token, "getpubtemplatetitles", ids="307", start=1, limit=1)
        assert second["count"] == everything["count"]
        assert second["data"] == everything["data"][1:2]

    @pytest.mark.parametrize(
        ("query", "errcode"),
        [
            ({"ids": "307", "start": -1, "limit": 1}, 200016),
            ({"ids": "307", "limit": 1}, 200016),
            ({"ids": "307", "start": 0, "limit": 0}, 200017),
            ({"ids": "307", "start": 0, "limit": 31}, 200017),
            ({"start": 0, "limit": 1}, 200018),
            ({"ids": "abc", "start": 0, "limit": 1}, 200019),
        ],
    )
    def test_getpubtemplatetitles_errors(self, emulator, token, query, errcode):
        assert_error(self.get(emulator, token, "getpubtemplatetitles", **query), errcode)

    def test_addtemplate_json(self, emulator, token):
        body = {"tid": "401", "kidList": [4, 1, 2], "sceneDesc": "报名结果"}
        reply = self.post(emulator, token, "addtemplate", json=body)
        assert reply["errcode"] == 0
        pri_id = reply["priTmplId"]
        assert len(pri_id) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", pri_id)
        [listed] = self.get(emulator, token, "gettemplate")["data"]
        assert listed["priTmplId"] == pri_id and listed["title"] == "报名结果通知"
        assert listed["content"] == (
            "审核结果:{{enum_string4.DATA}}\n活动地点:{{thing1.DATA}}\n活动日期:{{date2.DATA}}\n"
        )
        assert listed["keywordEnumValueList"][0]["keywordCode"] == "enum_string4.DATA"

    def test_addtemplate_form_encoded_with_repeated_kidlist(self, emulator, token):
        form = {"tid": "2001", "kidList": ["1", "2", "3"], "sceneDesc": "到站提醒"}
        reply = self.post(emulator, token, "addtemplate", data=form)
        assert reply["errcode"] == 0
        [listed] = self.get(emulator, token, "gettemplate")["data"]
        assert listed["type"] == 3
        assert listed["content"].startswith("线路:{{thing1.DATA}}\n到站时间:{{time2.DATA}}\n")
        assert "{{car_number3.DATA}}" in listed["content"]

    def test_template_from_library_is_sendable(self, emulator, token, send, user, accept):
        body = {"tid": 99, "kidList": [1, 2], "sceneDesc": "付款"}
        pri_id = self.post(emulator, token, "addtemplate", json=body)["priTmplId"]
        accept(user, pri_id)
        data = {"amount1": {"value": "¥9.90"}, "thing2": {"value": "奶茶"}}
        assert send(touser=user, template_id=pri_id, data=data)["errcode"] == 0

    @pytest.mark.parametrize(
        ("body", "errcode"),
        [
            ({"kidList": [1, 2], "sceneDesc": "x"}, 200014),
            ({"tid": "31337", "kidList": [1, 2], "sceneDesc": "x"}, 200014),
            ({"tid": "401", "kidList": [1], "sceneDesc": "x"}, 200020),
            ({"tid": "401", "kidList": [1, 2, 3, 4, 5, 6], "sceneDesc": "x"}, 200020),
            ({"tid": "401", "kidList": [1, 99], "sceneDesc": "x"}, 200020),
            ({"tid": "401", "kidList": [1, 1], "sceneDesc": "x"}, 200020),
            ({"tid": "401", "kidList": "1,2", "sceneDesc": "x"}, 200020),
            ({"tid": "401", "kidList": [1, 2], "sceneDesc": "一" * 16}, 200021),
        ],
    )
    def test_addtemplate_errors(self, emulator, token, body, errcode):
        assert_error(self.post(emulator, token, "addtemplate", json=body), errcode)

    def test_addtemplate_form_errors(self, emulator, token):
        form = {"tid": "401", "kidList": ["1"], "sceneDesc": "x"}
        assert_error(self.post(emulator, token, "addtemplate", data=form), 200020)

    def test_scene_desc_15_characters_is_fine(self, emulator, token):
        body = {"tid": "401", "kidList": [1, 2], "sceneDesc": "一" * 15}
        assert self.post(emulator, token, "addtemplate", json=body)["errcode"] == 0

    def test_at_most_25_private_templates_200012(self, emulator, token):
        body = {"tid": "401", "kidList": [1, 2], "sceneDesc": "x"}
        for _ in range(25):
            assert self.post(emulator, token, "addtemplate", json=body)["errcode"] == 0
        assert_error(self.post(emulator, token, "addtemplate", json=body), 200012)

    def test_addtemplate_is_post_only(self, emulator, token):
        assert_error(self.get(emulator, token, "addtemplate"), 43002)

    def test_deltemplate(self, emulator, token, send, user, order, accept):
        accept(user, order)
        reply = self.post(emulator, token, "deltemplate", json={"priTmplId": order})
        assert reply == {"errcode": 0, "errmsg": "ok"}
        assert self.get(emulator, token, "gettemplate")["data"] == []
        assert_error(send(touser=user, template_id=order, data=ORDER_DATA), 40037)

    def test_deltemplate_unknown_40037(self, emulator, token):
        reply = self.post(emulator, token, "deltemplate", json={"priTmplId": "gone"})
        assert_error(reply, 40037, "invalid template_id")

    def test_deltemplate_form_encoded(self, emulator, token, order):
        reply = self.post(emulator, token, "deltemplate", data={"priTmplId": order})
        assert reply["errcode"] == 0

    def test_getcategory(self, emulator, token):
        reply = self.get(emulator, token, "getcategory")
        assert reply["errcode"] == 0
        assert all(set(c) == {"id", "name"} for c in reply["data"])
        assert {"id": 616, "name": "公交"} in reply["data"]

    @pytest.mark.parametrize(
        "path",
        [
            "gettemplate",
            "getcategory",
            "getpubtemplatekeywords?tid=401",
            "getpubtemplatetitles?ids=307&start=0&limit=1",
        ],
    )
    def test_every_template_api_needs_a_token(self, emulator, path):
        assert_error(emulator.get(f"/wxaapi/newtmpl/{path}").get_json(), 41001)


# --- faults, latency, log --------------------------------------------------------------


class TestFaults:
    def test_errcode_fault_for_n_calls_without_side_effect(self, emulator, send, user, order, accept):
        accept(user, order)
        control(emulator, "/faults", api="subscribe_send", errcode=-1, times=2)
        for _ in range(2):
            assert_error(send(touser=user, template_id=order, data=ORDER_DATA), -1, "system error")
        assert control(emulator, "/sent", method="GET") == []  # no credit spent, nothing sent
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_fault_forever_until_cleared(self, emulator, token):
        control(emulator, "/faults", api="gettemplate", errcode=45009, times=None)
        for _ in range(3):
            assert_error(gettemplate(emulator, token), 45009, "reach max api daily quota limit")
        control(emulator, "/faults", method="DELETE")
        assert gettemplate(emulator, token)["errcode"] == 0

    def test_fault_only_hits_its_api(self, emulator, token, stable_token):
        control(emulator, "/faults", api="getcategory", errcode=-1)
        assert gettemplate(emulator, token)["errcode"] == 0
        assert "access_token" in stable_token()

    def test_wildcard_fault(self, emulator, classic_token, token):
        control(emulator, "/faults", api="*", errcode=-1, times=2)
        assert_error(classic_token(), -1)
        assert_error(gettemplate(emulator, token), -1)
        assert gettemplate(emulator, token)["errcode"] == 0

    def test_http_status_fault_is_not_json(self, emulator, token):
        control(emulator, "/faults", api="gettemplate", http_status=502, times=1)
        response = emulator.get("/wxaapi/newtmpl/gettemplate", query_string={"access_token": token})
        assert response.status_code == 502
        assert not response.is_json and response.get_json(silent=True) is None
        [call] = control(emulator, "/log", method="GET")["calls"][-1:]
        assert call["errcode"] is None and call["http_status"] == 502

    def test_late_fault_delivers_then_answers_late(self, emulator, send, user, order, accept):
        accept(user, order)
        control(emulator, "/faults", api="subscribe_send", late_ms=200, times=1)
        started = time.monotonic()
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0
        assert time.monotonic() - started >= 0.2
        assert len(control(emulator, "/sent", method="GET")) == 1

    def test_listed_and_validated(self, emulator):
        created = control(emulator, "/faults", api="token", errcode=-1)
        assert control(emulator, "/faults", method="GET")["faults"][0]["id"] == created["id"]
        for bad in (
            {"api": "nope", "errcode": -1},
            {"api": "token"},
            {"api": "token", "errcode": -1, "late_ms": 5},
            {"api": "token", "errcode": -1, "times": 0},
        ):
            assert emulator.post("/_emulator/faults", json=bad).status_code == 400

    def test_latency_applies_to_wechat_calls(self, emulator, token):
        control(emulator, "/latency", ms=100)
        started = time.monotonic()
        gettemplate(emulator, token)
        assert time.monotonic() - started >= 0.1
        control(emulator, "/latency", ms=0)


class TestLog:
    def test_every_call_logged_without_secrets(self, emulator, classic_token, stable_token, send, user, order, accept):
        control(emulator, "/log", method="DELETE")  # the `send` fixture fetched a token
        token = classic_token()["access_token"]
        stable = stable_token()["access_token"]
        accept(user, order)
        msgid = send(access_token=stable, touser=user, template_id=order, data=ORDER_DATA)["msgid"]
        login(emulator, "bad-code")
        calls = control(emulator, "/log", method="GET")["calls"]
        assert [c["api"] for c in calls] == ["token", "stable_token", "subscribe_send", "jscode2session"]
        assert [c["seq"] for c in calls] == list(range(calls[0]["seq"], calls[0]["seq"] + 4))
        assert [c["errcode"] for c in calls] == [0, 0, 0, 40029]
        send_call = calls[2]
        assert send_call["method"] == "POST"
        assert send_call["path"] == "/cgi-bin/message/subscribe/send"
        assert (send_call["touser"], send_call["template_id"], send_call["msgid"]) == (user, order, msgid)
        assert send_call["data"] == ORDER_DATA
        assert all(isinstance(c["at"], float) for c in calls)
        dumped = json.dumps(calls)
        assert DEV_SECRET not in dumped and token not in dumped and stable not in dumped

    def test_clear(self, emulator, token):
        gettemplate(emulator, token)
        control(emulator, "/log", method="DELETE")
        assert control(emulator, "/log", method="GET")["calls"] == []

    def test_control_calls_are_not_logged(self, emulator, make_user):
        make_user()
        assert control(emulator, "/log", method="GET")["calls"] == []

    def test_unknown_path_is_404_json_and_logged(self, emulator):
        response = emulator.get("/cgi-bin/nope?access_token=secret-token")
        assert response.status_code == 404
        assert_error(response.get_json(), 404)
        [call] = control(emulator, "/log", method="GET")["calls"]
        assert call["api"] is None and call["path"] == "/cgi-bin/nope"

    def test_unknown_control_path_is_404_json(self, emulator):
        response = emulator.get("/_emulator/nope")
        assert response.status_code == 404 and "error" in response.get_json()


# --- control API ------------------------------------------------------------------------


class TestControl:
    def test_users(self, emulator):
        random_user = control(emulator, "/users")
        assert re.fullmatch(r"o[A-Za-z0-9_-]{27}", random_user["openid"])
        named = control(emulator, "/users", openid="o-fixed", unionid="u-1")
        assert named == {"openid": "o-fixed", "unionid": "u-1"}

    def test_login_code_for_existing_user(self, emulator, make_user):
        openid = make_user()
        issued = control(emulator, "/login_codes", openid=openid)
        assert issued["openid"] == openid and issued["code"]

    def test_template_registration_returns_the_listing(self, emulator):
        listed = control(emulator, "/templates", **ORDER_TEMPLATE)
        assert listed["priTmplId"] == "tmpl-order" and listed["type"] == 2
        generated = control(emulator, "/templates", title="t", type=3, keywords=[{"key": "thing1", "name": "x"}])
        assert len(generated["priTmplId"]) == 43

    @pytest.mark.parametrize(
        "body",
        [
            {"title": "t", "type": 4, "keywords": [{"key": "thing1", "name": "x"}]},
            {"title": "t", "type": 2, "keywords": []},
            {"type": 2, "keywords": [{"key": "thing1", "name": "x"}]},
            {"title": "t", "type": 2, "keywords": [{"key": "thing1"}, {"key": "thing1"}]},
            {"title": "t", "keywords": [{"key": "e1"}], "enums": {"e1": "a"}},
        ],
    )
    def test_template_registration_errors(self, emulator, body):
        assert emulator.post("/_emulator/templates", json=body).status_code == 400

    def test_popup_and_subscriptions(self, emulator, user, order, make_template):
        long_term = make_template(priTmplId="tmpl-lt", type=3)
        reply = control(emulator, "/popup", openid=user, results={order: "accept", long_term: "reject"})
        expected = {order: {"remaining": 1, "status": "accept"}, long_term: {"remaining": None, "status": "reject"}}
        assert reply["subscriptions"] == expected
        listed = control(emulator, f"/subscriptions?openid={user}", method="GET")
        assert listed["subscriptions"] == expected

    def test_popup_errors(self, emulator, user, order):
        bad = [
            {"openid": user, "results": {"unknown": "accept"}},
            {"openid": user, "results": {order: "maybe"}},
            {"results": {order: "accept"}},
        ]
        for body in bad:
            assert emulator.post("/_emulator/popup", json=body).status_code == 400

    def test_reset(self, emulator, state, token, user, order, accept):
        accept(user, order)
        control(emulator, "/faults", api="token", errcode=-1)
        control(emulator, "/latency", ms=1)
        control(emulator, "/config", pages=["a"], token_ttl=60)
        advance(emulator, 100)
        control(emulator, "/reset")
        assert_error(gettemplate(emulator, token), 40001)  # tokens forgotten
        assert [c["api"] for c in control(emulator, "/log", method="GET")["calls"]] == ["gettemplate"]
        subs = control(emulator, f"/subscriptions?openid={user}", method="GET")
        assert subs["subscriptions"] == {}
        assert control(emulator, "/faults", method="GET")["faults"] == []
        assert control(emulator, "/sent", method="GET") == []
        assert (state.latency_ms, state.pages, state.token_ttl) == (0, None, 7200)
        assert control(emulator, "/clock", advance=0)["offset"] == 0

    def test_clock_and_config_validation(self, emulator):
        assert emulator.post("/_emulator/clock", json={"advance": -5}).status_code == 400
        assert emulator.post("/_emulator/config", json={"token_ttl": 0}).status_code == 400
        assert emulator.post("/_emulator/config", json={"pages": "x"}).status_code == 400


# --- over real HTTP --------------------------------------------------------------------


@pytest.fixture
def server():
    running = run_in_thread()
    yield running
    running.shutdown()


def _http_setup(server) -> tuple[str, str, str]:
    """A token, a user and a one-time template over HTTP."""
    base = server.url
    token = requests.post(
        f"{base}/cgi-bin/stable_token", timeout=5, json={"grant_type": "client_credential", **CREDENTIALS}
    ).json()["access_token"]
    user = requests.post(f"{base}/_emulator/users", json={}, timeout=5).json()["openid"]
    requests.post(f"{base}/_emulator/templates", json=ORDER_TEMPLATE, timeout=5)
    return token, user, ORDER_TEMPLATE["priTmplId"]


class TestServer:
    def test_run_in_thread_serves_the_given_state(self):
        state = EmulatorState()
        running = run_in_thread(state=state)
        try:
            assert running.state is state
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.url)
            reply = requests.post(f"{running.url}/_emulator/users", json={"openid": "o-x"}, timeout=5)
            assert reply.json()["openid"] == "o-x" and "o-x" in state.users
        finally:
            running.shutdown()

    def test_concurrent_sends_spend_each_credit_once(self, server):
        token, user, template = _http_setup(server)
        for _ in range(5):
            requests.post(
                f"{server.url}/_emulator/popup", timeout=5, json={"openid": user, "results": {template: "accept"}}
            )
        url = f"{server.url}/cgi-bin/message/subscribe/send?access_token={token}"
        body = {"touser": user, "template_id": template, "data": ORDER_DATA}
        results: list[int] = []

        def worker() -> None:
            # An overlapping send answers 43108 having sent nothing: try again (bounded).
            for _ in range(500):
                errcode = requests.post(url, json=body, timeout=10).json()["errcode"]
                if errcode != 43108:
                    break
            results.append(errcode)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [0] * 5 + [43101] * 7

    def test_drop_fault_delivers_then_closes_the_connection(self, server):
        token, user, template = _http_setup(server)
        requests.post(
            f"{server.url}/_emulator/popup", timeout=5, json={"openid": user, "results": {template: "accept"}}
        )
        requests.post(
            f"{server.url}/_emulator/faults", timeout=5, json={"api": "subscribe_send", "drop": True, "times": 1}
        )
        url = f"{server.url}/cgi-bin/message/subscribe/send?access_token={token}"
        body = {"touser": user, "template_id": template, "data": ORDER_DATA}
        with pytest.raises(requests.ConnectionError):
            requests.post(url, json=body, timeout=5)
        assert len(requests.get(f"{server.url}/_emulator/sent", timeout=5).json()) == 1

    def test_late_fault_makes_the_client_time_out_after_delivery(self, server):
        token, user, template = _http_setup(server)
        requests.post(
            f"{server.url}/_emulator/popup", timeout=5, json={"openid": user, "results": {template: "accept"}}
        )
        requests.post(
            f"{server.url}/_emulator/faults", timeout=5, json={"api": "subscribe_send", "late_ms": 1000, "times": 1}
        )
        url = f"{server.url}/cgi-bin/message/subscribe/send?access_token={token}"
        body = {"touser": user, "template_id": template, "data": ORDER_DATA}
        with pytest.raises(requests.Timeout):
            requests.post(url, json=body, timeout=0.3)
        assert len(requests.get(f"{server.url}/_emulator/sent", timeout=5).json()) == 1
