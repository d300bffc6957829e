"""WeChat-facing routes: login, access tokens, phone numbers and subscribe/send (docs/wechat.md §1-4)."""

from __future__ import annotations

import base64
import secrets

from flask import Blueprint, request

from wxemu.dispatch import json_body, wechat_route
from wxemu.errors import WxError
from wxemu.rules import value_problem
from wxemu.state import EmulatorState, Keyword, Template

bp = Blueprint("wechat_api", __name__)

MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})


@wechat_route(bp, "/sns/jscode2session", "jscode2session", "GET")
def code_to_session(state: EmulatorState) -> dict:
    """code2Session: trade a wx.login code for the openid and a fresh session_key."""
    args = request.args
    account = state.check_credentials(args.get("appid"), args.get("secret"))
    if not args.get("js_code"):
        raise WxError(41008)
    if args.get("grant_type", "authorization_code") != "authorization_code":
        raise WxError(40002)
    user = account.redeem_login_code(args["js_code"])  # a code of another app is unknown here: 40029
    # A real success reply has no errcode field (docs/wechat.md §1): clients must default it to 0.
    session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    reply = {"session_key": session_key, "openid": user.openid}
    if user.unionid:
        reply["unionid"] = user.unionid
    return reply


@wechat_route(bp, "/cgi-bin/token", "token", "GET")
def get_token(state: EmulatorState) -> dict:
    """getAccessToken: a new token on every call (the previous one lives 5 more minutes)."""
    args = request.args
    if args.get("grant_type") != "client_credential":
        raise WxError(40002)
    token = state.check_credentials(args.get("appid"), args.get("secret")).issue_classic_token()
    return {"access_token": token.value, "expires_in": state.token_ttl}


@wechat_route(bp, "/cgi-bin/stable_token", "stable_token", "POST")
def get_stable_token(state: EmulatorState) -> dict:
    """getStableAccessToken: the same token while it has more than 5 minutes left."""
    body = json_body()
    if body.get("grant_type") != "client_credential":
        raise WxError(40002)
    account = state.check_credentials(body.get("appid"), body.get("secret"))
    force = body.get("force_refresh", False)
    if not isinstance(force, bool):
        raise WxError(47001)
    token, expires_in = account.stable_token(force)
    return {"access_token": token.value, "expires_in": expires_in}


@wechat_route(bp, "/wxa/business/getuserphonenumber", "getuserphonenumber", "POST")
def get_phone_number(state: EmulatorState) -> dict:
    """getPhoneNumber: a phone code's number, once, within 5 minutes."""
    account = state.check_token(request.args.get("access_token"))
    body = json_body()
    phone = account.redeem_phone_code(body.get("code"), body.get("openid"))
    return {"errcode": 0, "errmsg": "ok", "phone_info": phone.phone_info(account.appid)}


@wechat_route(bp, "/cgi-bin/message/subscribe/send", "subscribe_send", "POST")
def send_subscribe_message(state: EmulatorState) -> dict:
    """subscribeMessage.send: check the request, the data and the user's consent, then deliver.

    A second send to an openid while one is in flight never reaches this: 43108 (dispatch.py).
    """
    account = state.check_token(request.args.get("access_token"))
    body = json_body()
    touser = _lookup_key(body.get("touser"))
    if touser not in account.users:  # an openid of another app is not a user of this one
        raise WxError(40003)
    template = account.templates.get(_lookup_key(body.get("template_id")))
    if template is None:
        raise WxError(40037)
    if template.banned:
        raise WxError(43107)  # the template (or the account's ability) is banned
    page = _checked_page(state, body.get("page"))
    mp_state = _choice(body, "miniprogram_state", MINIPROGRAM_STATES, "formal")
    lang = _choice(body, "lang", LANGS, "zh_CN")
    _check_data(template, body.get("data"))
    state.check_sensitive_words(body.get("data") or {})
    account.check_send_quota()
    account.spend_consent(touser, template)
    account.count_send()
    message = {
        "touser": touser,
        "template_id": template.pri_id,
        "data": body.get("data") or {},
        "page": page,
        "miniprogram_state": mp_state,
        "lang": lang,
    }
    return {"errcode": 0, "errmsg": "ok", "msgid": account.deliver(message)}


# The APIs getApiQuota answers for here: the one the backend asks about (§15).
QUOTA_PATHS = frozenset({"/cgi-bin/message/subscribe/send"})


@wechat_route(bp, "/cgi-bin/openapi/quota/get", "quota_get", "POST")
def get_api_quota(state: EmulatorState) -> dict:
    """getApiQuota: the day's quota of one API of the app (docs/wechat.md §15)."""
    account = state.check_token(request.args.get("access_token"))
    cgi_path = json_body().get("cgi_path")
    if cgi_path not in QUOTA_PATHS:
        raise WxError(76021)  # cgi_path not found
    used = account.sends_today()
    return {
        "errcode": 0,
        "errmsg": "ok",
        "quota": {"daily_limit": account.send_limit, "used": used, "remain": max(account.send_limit - used, 0)},
        "rate_limit": {"call_count": 5000, "refresh_second": 60},
        "component_rate_limit": {"call_count": 5000, "refresh_second": 60},
    }


def _lookup_key(value: object) -> str:
    return value if isinstance(value, str) else ""


def _checked_page(state: EmulatorState, page: object) -> str | None:
    """The page, when it passes the allow-list (41030 otherwise; none set: any page)."""
    if page is None or page == "":
        return None
    if not isinstance(page, str):
        raise WxError(47001)
    path = page.split("?", 1)[0].lstrip("/")
    if state.pages is not None and path not in state.pages:
        raise WxError(41030)  # not a page of the released version
    return page


def _choice(body: dict, name: str, allowed: frozenset[str], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise WxError(47001)
    return value


def _check_data(template: Template, data: object) -> None:
    """47003 naming the first keyword whose value is missing or breaks its rule."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WxError(47001)
    for keyword in template.keywords:
        problem = _value_problem(keyword, data.get(keyword.key))
        if problem:
            raise WxError(47003, f"data.{keyword.key}.value {problem}")
    # Keys the template doesn't have are ignored, as WeChat does.


def _value_problem(keyword: Keyword, entry: object) -> str | None:
    """None, "is empty" or "invalid": the two 47003 wordings."""
    if entry is None:
        return "is empty"
    if not isinstance(entry, dict):
        return "invalid"  # a bare string: WeChat wants {"value": "..."}
    value = entry.get("value")
    if value is None or value == "":
        return "is empty"
    if not isinstance(value, str):
        return "invalid"
    return value_problem(keyword.key, value, keyword.enum_values)
