"""The WeChat client against the emulator: every API and every errcode path it handles."""

from __future__ import annotations

import json
import logging

import pytest

from backend.ops.logs import JsonFormatter
from backend.wechat.errors import (
    AccessTokenError,
    CodeInvalid,
    DeliveryUnknown,
    QuotaExceeded,
    RequestRejected,
    SystemBusy,
    UserBlocked,
    UserRefused,
    WeChatUnreachable,
)
from tests.helpers import reconfigure, wechat_client
from wxemu.defaults import DEV_SECRET

ONE_TIME = {
    "priTmplId": "tmpl-order-shipped",
    "title": "Order shipped",
    "type": 2,
    "keywords": [{"key": "thing1", "name": "Item"}, {"key": "time2", "name": "Shipped at"}],
}
GOOD_DATA = {"thing1": "Blue kettle", "time2": "2024年10月1日 15:01"}


@pytest.fixture
def user(emulator) -> str:
    return emulator.control("POST", "/users")["openid"]


def accept(emulator, openid: str, template_id: str = ONE_TIME["priTmplId"]) -> None:
    emulator.control("POST", "/popup", openid=openid, results={template_id: "accept"})


class TestLogin:
    def test_code_to_session_returns_openid_and_session_key(self, wechat, emulator):
        issued = emulator.login_code(unionid="union-1")
        session = wechat.auth.code_to_session(issued["code"])
        assert session["openid"] == issued["openid"]
        assert session["session_key"]
        assert session["unionid"] == "union-1"

    def test_code_is_single_use_40163(self, wechat, emulator):
        code = emulator.login_code()["code"]
        wechat.auth.code_to_session(code)
        with pytest.raises(CodeInvalid) as caught:
            wechat.auth.code_to_session(code)
        assert caught.value.errcode == 40163

    def test_unknown_code_40029_with_rid(self, wechat, emulator):
        with pytest.raises(CodeInvalid) as caught:
            wechat.auth.code_to_session("never-issued")
        assert caught.value.errcode == 40029
        assert caught.value.rid and caught.value.rid.count("-") == 2

    def test_high_risk_user_40226(self, wechat, emulator):
        emulator.fault(api="jscode2session", errcode=40226, times=1)
        with pytest.raises(UserBlocked):
            wechat.auth.code_to_session(emulator.login_code()["code"])

    def test_minute_quota_45011(self, wechat, emulator):
        emulator.fault(api="jscode2session", errcode=45011, times=1)
        with pytest.raises(QuotaExceeded) as caught:
            wechat.auth.code_to_session(emulator.login_code()["code"])
        assert caught.value.errcode == 45011


class TestPhoneNumber:
    @pytest.mark.parametrize("country_code", [86, "86"])
    def test_country_code_as_number_or_string(self, wechat, emulator, user, country_code):
        code = emulator.control(
            "POST", "/phone_codes", openid=user, phone_number="13800138000", country_code=country_code
        )["code"]
        info = wechat.auth.get_phone_number(code)
        assert info["purePhoneNumber"] == "13800138000"
        assert info["countryCode"] == "86"

    def test_used_code_40029(self, wechat, emulator, user):
        code = emulator.control("POST", "/phone_codes", openid=user, phone_number="13800138000")["code"]
        wechat.auth.get_phone_number(code)
        with pytest.raises(CodeInvalid):
            wechat.auth.get_phone_number(code)


class TestSend:
    def test_send_spends_the_credit_and_returns_msgid(self, wechat, emulator, user):
        emulator.template(**ONE_TIME)
        accept(emulator, user)
        msgid = wechat.subscribe.send(
            user,
            ONE_TIME["priTmplId"],
            GOOD_DATA,
            page="pages/index/index",
            miniprogram_state="developer",
            lang="en_US",
        )
        assert isinstance(msgid, int) and msgid > 0
        [sent] = emulator.control("GET", "/sent")
        assert sent["touser"] == user and sent["data"]["thing1"] == {"value": "Blue kettle"}
        assert sent["miniprogram_state"] == "developer" and sent["lang"] == "en_US"
        with pytest.raises(UserRefused) as caught:
            wechat.subscribe.send(user, ONE_TIME["priTmplId"], GOOD_DATA)
        assert caught.value.errcode == 43101

    def test_invalid_value_47003_names_the_field(self, wechat, emulator, user):
        emulator.template(**ONE_TIME)
        accept(emulator, user)
        with pytest.raises(RequestRejected) as caught:
            wechat.subscribe.send(user, ONE_TIME["priTmplId"], {**GOOD_DATA, "time2": "25:00"})
        assert caught.value.errcode == 47003
        assert "data.time2.value" in caught.value.errmsg

    @pytest.mark.parametrize(
        ("touser", "template_id", "page", "errcode"),
        [
            ("o-unknown-openid", ONE_TIME["priTmplId"], None, 40003),
            (None, "no-such-template", None, 40037),
            (None, ONE_TIME["priTmplId"], "pages/missing/missing", 41030),
        ],
    )
    def test_refused_requests(self, wechat, emulator, user, touser, template_id, page, errcode):
        emulator.template(**ONE_TIME)
        emulator.control("POST", "/config", pages=["pages/index/index"])
        accept(emulator, user)
        with pytest.raises(RequestRejected) as caught:
            wechat.subscribe.send(touser or user, template_id, GOOD_DATA, page=page)
        assert caught.value.errcode == errcode

    def test_system_busy_is_retried_and_then_sent(self, wechat, emulator, user):
        emulator.template(**ONE_TIME)
        accept(emulator, user)
        emulator.fault(api="subscribe_send", errcode=-1, times=1)
        assert wechat.subscribe.send(user, ONE_TIME["priTmplId"], GOOD_DATA)
        assert [c["errcode"] for c in emulator.calls("subscribe_send")] == [-1, 0]

    def test_late_answer_after_delivery_is_unknown_and_not_repeated(self, wechat, emulator, user):
        emulator.template(**ONE_TIME)
        accept(emulator, user)
        wechat.timeout = (1.0, 0.5)
        emulator.fault(api="subscribe_send", late_ms=1500, times=1)
        with pytest.raises(DeliveryUnknown):
            wechat.subscribe.send(user, ONE_TIME["priTmplId"], GOOD_DATA)
        assert len(emulator.control("GET", "/sent")) == 1  # WeChat did deliver it
        assert len(emulator.calls("subscribe_send")) == 1  # and we did not send it again

    def test_http_5xx_on_send_is_unknown_and_not_repeated(self, wechat, emulator, user):
        emulator.template(**ONE_TIME)
        accept(emulator, user)
        emulator.fault(api="subscribe_send", http_status=502, times=1)
        with pytest.raises(DeliveryUnknown):
            wechat.subscribe.send(user, ONE_TIME["priTmplId"], GOOD_DATA)
        assert len(emulator.calls("subscribe_send")) == 1

    def test_connection_refused_is_retried_then_unreachable(self, wechat, emulator, user, unused_port):
        wechat.tokens.get()
        wechat.api_base = f"http://127.0.0.1:{unused_port}"
        with pytest.raises(WeChatUnreachable) as caught:
            wechat.subscribe.send(user, ONE_TIME["priTmplId"], GOOD_DATA)
        assert "access_token=" not in str(caught.value) or "access_token=***" in str(caught.value)


class TestRetries:
    def test_system_busy_retried_within_bounds(self, wechat, emulator):
        emulator.fault(api="gettemplate", errcode=-1, times=2)
        assert wechat.templates.list() == []
        assert [c["errcode"] for c in emulator.calls("gettemplate")] == [-1, -1, 0]

    def test_system_busy_gives_up_after_max_attempts(self, wechat, emulator):
        emulator.fault(api="gettemplate", errcode=-1, times=None)
        with pytest.raises(SystemBusy):
            wechat.templates.list()
        assert len(emulator.calls("gettemplate")) == wechat.max_attempts

    def test_http_5xx_retried_for_reads(self, wechat, emulator):
        emulator.fault(api="gettemplate", http_status=503, times=1)
        assert wechat.templates.list() == []
        assert len(emulator.calls("gettemplate")) == 2

    def test_read_timeout_retried_for_reads(self, wechat, emulator):
        wechat.timeout = (1.0, 0.5)
        emulator.fault(api="getcategory", late_ms=1500, times=1)
        assert wechat.templates.categories()
        assert len(emulator.calls("getcategory")) == 2


class TestTokens:
    def test_one_fetch_for_many_calls(self, wechat, emulator):
        for _ in range(20):
            wechat.templates.list()
        assert len(emulator.calls("stable_token")) == 1
        assert wechat.tokens.fetches == 1

    def test_classic_token_api_is_an_option(self, app, emulator):
        reconfigure(app, WX_TOKEN_API="classic")
        wechat_client(app).templates.list()
        assert len(emulator.calls("token")) == 1 and not emulator.calls("stable_token")

    def test_invalidated_token_refreshed_once_and_call_succeeds(self, wechat, emulator):
        wechat.templates.list()
        emulator.control("POST", "/tokens/invalidate")
        assert wechat.templates.list() == []
        assert len(emulator.calls("stable_token")) == 2
        assert [c["errcode"] for c in emulator.calls("gettemplate")] == [0, 40001, 0]

    def test_expired_token_42001_refreshed(self, wechat, emulator):
        wechat.templates.list()
        emulator.control("POST", "/clock", advance=7300)
        wechat.tokens._memo = None  # this process's clock did not move; the store says still fresh
        assert wechat.templates.list() == []
        assert [c["errcode"] for c in emulator.calls("gettemplate")] == [0, 42001, 0]

    def test_persisting_40001_ends_in_a_clear_error_after_one_retry(self, wechat, emulator):
        emulator.fault(api="gettemplate", errcode=40001, times=None)
        with pytest.raises(AccessTokenError) as caught:
            wechat.templates.list()
        assert caught.value.errcode == 40001
        assert len(emulator.calls("gettemplate")) == 2
        assert len(emulator.calls("stable_token")) == 2


class TestTemplates:
    def test_add_list_delete(self, wechat, emulator):
        category = wechat.templates.categories()[0]["id"]
        tid = wechat.templates.public_titles([category], limit=1)[0]["tid"]
        keywords = wechat.templates.public_keywords(tid)
        kids = [keyword["kid"] for keyword in keywords[:2]]
        template_id = wechat.templates.add(tid, kids, "order updates")
        [listed] = wechat.templates.list()
        assert listed["priTmplId"] == template_id
        wechat.templates.delete(template_id)
        assert wechat.templates.list() == []

    def test_add_with_bad_kid_list_200020(self, wechat, emulator):
        tid = wechat.templates.public_titles([wechat.templates.categories()[0]["id"]])[0]["tid"]
        with pytest.raises(RequestRejected) as caught:
            wechat.templates.add(tid, [999999], "x")
        assert caught.value.errcode == 200020

    def test_categories(self, wechat, emulator):
        assert all({"id", "name"} <= set(category) for category in wechat.templates.categories())


def test_secrets_never_reach_logs_or_errors(wechat, emulator, user):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("backend.wechat")
    logger.addHandler(handler)
    try:
        wechat.templates.list()
        emulator.fault(api="gettemplate", errcode=40001, times=None)
        with pytest.raises(AccessTokenError) as caught:
            wechat.templates.list()
    finally:
        logger.removeHandler(handler)
    token = wechat.tokens.get()
    text = "\n".join(lines) + str(caught.value) + repr(wechat)
    assert lines and all(json.loads(line) for line in lines)
    assert DEV_SECRET not in text and token not in text


def test_proxy_settings_come_from_the_environment_once(monkeypatch):
    from backend.wechat.client import WeChatClient

    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.setenv("NO_PROXY", "")
    client = WeChatClient("wx1", "s", api_base="https://api.weixin.qq.com", token_store=None)
    assert client.session.proxies == {"https": "http://egress.internal:3128"}
    assert client.session.trust_env is False  # not re-read on every call
