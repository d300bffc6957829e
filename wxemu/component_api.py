"""The open platform's WeChat-facing routes and their control API (docs/wechat.md §14).

WeChat side: `/cgi-bin/component/api_*` and `/sns/component/jscode2session`. Every route
goes through `wechat_route`, so faults (61004 whitelist, 61005/61006 tickets, 61023, ...)
can be injected per API name like any other.

Control side, under /_emulator/component: configure the component and its two URLs, push a
ticket now, authorize / revoke / re-authorize a merchant app with chosen permission sets, and
make a refresh token invalid (what a lost one looks like).
"""

from __future__ import annotations

import base64
import secrets
import threading

from flask import Blueprint, jsonify, request

from wxemu.component import PERMISSION_SETS, push_ticket
from wxemu.control import ControlError, bad_request
from wxemu.control import body_object as _body
from wxemu.dispatch import current_state, json_body, wechat_route
from wxemu.errors import WxError
from wxemu.state import EmulatorState

bp = Blueprint("component_api", __name__)
control_bp = Blueprint("component_control", __name__, url_prefix="/_emulator/component")

MAX_LIST = 500


def _component_call(state: EmulatorState) -> dict:
    """The body of a call under a component token, after checking the token and the component appid."""
    state.component.check_component_token(request.args.get("component_access_token"))
    body = json_body()
    if body.get("component_appid") != state.component.appid:
        raise WxError(40013)
    return body


@wechat_route(bp, "/cgi-bin/component/api_component_token", "api_component_token", "POST")
def component_token(state: EmulatorState) -> dict:
    body = json_body()
    state.component.check_secret(body.get("component_appid"), body.get("component_appsecret"))
    token, expires_in = state.component.component_token(body.get("component_verify_ticket"))
    return {"component_access_token": token, "expires_in": expires_in}


@wechat_route(bp, "/cgi-bin/component/api_start_push_ticket", "api_start_push_ticket", "POST")
def start_push_ticket(state: EmulatorState) -> dict:
    body = json_body()
    state.component.check_secret(body.get("component_appid"), body.get("component_secret"))
    # WeChat pushes soon after answering: from another thread, once this answer is out.
    threading.Timer(0.05, push_ticket, args=(state,)).start()
    return {"errcode": 0, "errmsg": "ok"}


@wechat_route(bp, "/cgi-bin/component/api_create_preauthcode", "api_create_preauthcode", "POST")
def create_preauthcode(state: EmulatorState) -> dict:
    _component_call(state)
    return {"pre_auth_code": state.component.new_pre_auth_code(), "expires_in": 1800}


def _authorizer_token(state: EmulatorState, grant) -> tuple[str, int]:
    token = state.apps[grant.appid].issue_authorizer_token()
    return token.value, state.token_ttl


@wechat_route(bp, "/cgi-bin/component/api_query_auth", "api_query_auth", "POST")
def query_auth(state: EmulatorState) -> dict:
    body = _component_call(state)
    grant = state.component.query_auth(body.get("authorization_code"))
    token, expires_in = _authorizer_token(state, grant)
    return {
        "authorization_info": {
            "authorizer_appid": grant.appid,
            "authorizer_access_token": token,
            "expires_in": expires_in,
            "authorizer_refresh_token": grant.refresh_token,
            "func_info": grant.info(),
        }
    }


@wechat_route(bp, "/cgi-bin/component/api_authorizer_token", "api_authorizer_token", "POST")
def authorizer_token(state: EmulatorState) -> dict:
    body = _component_call(state)
    grant = state.component.refresh(body.get("authorizer_appid"), body.get("authorizer_refresh_token"))
    token, expires_in = _authorizer_token(state, grant)
    return {"authorizer_access_token": token, "expires_in": expires_in, "authorizer_refresh_token": grant.refresh_token}


@wechat_route(bp, "/cgi-bin/component/api_get_authorizer_info", "api_get_authorizer_info", "POST")
def get_authorizer_info(state: EmulatorState) -> dict:
    body = _component_call(state)
    grant = state.component.live(body.get("authorizer_appid"))
    return {
        "authorizer_info": {"nick_name": grant.appid, "user_name": "gh_e0000000e001", "MiniProgramInfo": {}},
        "authorization_info": {
            "authorizer_appid": grant.appid,
            "authorizer_refresh_token": grant.refresh_token,
            "func_info": grant.info(),
        },
    }


@wechat_route(bp, "/cgi-bin/component/api_get_authorizer_list", "api_get_authorizer_list", "POST")
def get_authorizer_list(state: EmulatorState) -> dict:
    body = _component_call(state)
    offset, count = body.get("offset", 0), body.get("count", MAX_LIST)
    if not isinstance(offset, int) or not isinstance(count, int) or offset < 0 or not 0 < count <= MAX_LIST:
        raise WxError(47001)
    live = [grant for grant in state.component.authorizations.values() if grant.authorized]
    return {
        "total_count": len(live),
        "list": [
            {
                "authorizer_appid": grant.appid,
                "refresh_token": grant.refresh_token,
                "auth_time": int(grant.authorized_at),
            }
            for grant in live[offset : offset + count]
        ],
    }


@wechat_route(bp, "/sns/component/jscode2session", "component_jscode2session", "GET")
def component_code_to_session(state: EmulatorState) -> dict:
    """Log-in for a merchant app through the platform: no secret; `js_code`, never `code`."""
    args = request.args
    state.component.check_component_token(args.get("component_access_token"))
    if args.get("component_appid") != state.component.appid:
        raise WxError(40013)
    account = state.apps.get(args.get("appid") or "")
    if account is None:
        raise WxError(40013)
    state.component.live(account.appid)  # 61003 when the app has not authorized the platform
    if not args.get("js_code"):
        raise WxError(41008)
    user = account.redeem_login_code(args["js_code"])
    reply = {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(), "openid": user.openid}
    if user.unionid:
        reply["unionid"] = user.unionid
    return reply


# --- control -------------------------------------------------------------------------------


control_bp.register_error_handler(ControlError, bad_request)  # 400 {"error"}, as the rest of the control API


@control_bp.post("")
def configure():
    """{"appid"?, "secret"?, "token"?, "encoding_aes_key"?, "auth_url"?, "message_url"?, "format"?}: the
    component and its two URLs (the message URL may hold `$APPID$`). Forgets tickets, tokens and grants.
    With an auth_url, a ticket is pushed every 10 minutes."""
    body = _body()
    state = current_state()
    with state.lock:
        component = state.component
        settings = {
            "appid": component.appid,
            "secret": component.secret,
            "token": component.token,
            "encoding_aes_key": component.encoding_aes_key,
        }
        for name in (*settings, "auth_url", "message_url", "format"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise ControlError(f"{name} must be a string")
            if value is not None:
                settings[name] = value
        if len(settings["encoding_aes_key"]) != 43:
            raise ControlError("encoding_aes_key must have 43 characters")
        if settings.get("format", "xml") not in ("xml", "json"):
            raise ControlError("format must be xml or json")
        component.configure(**settings)
        if component.auth_url:
            state.ticket_clock.start()
        return jsonify(appid=component.appid)


@control_bp.get("")
def show():
    state = current_state()
    with state.lock:
        component = state.component
        return jsonify(
            appid=component.appid,
            tickets=len(component.tickets),
            authorizations={
                appid: {"authorized": grant.authorized, "func_ids": grant.func_ids}
                for appid, grant in component.authorizations.items()
            },
        )


@control_bp.post("/ticket")
def ticket_now():
    """Push a fresh ticket now (WeChat does every 10 minutes); the backend's HTTP status."""
    return jsonify(push_status=push_ticket(current_state()))


def _func_ids(body: dict) -> list[int]:
    ids = body.get("func_ids", [18])
    if not isinstance(ids, list) or not all(isinstance(i, int) and i in PERMISSION_SETS for i in ids):
        raise ControlError(f"func_ids must be a list of permission sets among {PERMISSION_SETS}")
    return ids


@control_bp.post("/authorize")
def authorize():
    """{"appid", "func_ids"? (default [18]), "pre_auth_code"?, "push"? (default true)}: the merchant app
    (hosted when new) authorizes the component; `authorized` (or `updateauthorized` when it had already)
    is pushed to the authorization event URL. Answers the authorization code."""
    body = _body()
    appid = body.get("appid")
    if not isinstance(appid, str) or not appid:
        raise ControlError("appid is required")
    state = current_state()
    with state.lock:
        account = state.apps.get(appid) or state.add_app(appid, secrets.token_hex(16))
        try:
            code, info_type = state.component.authorize(account, _func_ids(body), body.get("pre_auth_code"))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        message = state.component.event(
            info_type,
            AuthorizerAppid=appid,
            AuthorizationCode=code,
            AuthorizationCodeExpiredTime=str(int(state.now()) + 3600),
            PreAuthCode=body.get("pre_auth_code") or "",
        )
    status = state.component.push(message) if body.get("push", True) else None
    return jsonify(authorization_code=code, info_type=info_type, push_status=status)


@control_bp.post("/revoke")
def revoke():
    """{"appid"}: the merchant revokes; its tokens die at once and `unauthorized` is pushed."""
    body = _body()
    state = current_state()
    with state.lock:
        account = state.apps.get(body.get("appid") or "")
        if account is None:
            raise ControlError("unknown appid")
        try:
            state.component.revoke(account)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        account.pusher.target = None
        message = state.component.event("unauthorized", AuthorizerAppid=account.appid)
    return jsonify(push_status=state.component.push(message))


@control_bp.post("/refresh_tokens/replace")
def replace_refresh_token():
    """{"appid"}: the refresh token the platform holds stops working (61023); the authorizer list has the new one."""
    body = _body()
    state = current_state()
    with state.lock:
        try:
            state.component.replace_refresh_token(body.get("appid") or "")
        except WxError:
            raise ControlError("the app has not authorized the component") from None
    return jsonify(ok=True)
