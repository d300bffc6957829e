"""A third-party platform's URLs (docs/wechat.md §14): its two push URLs and the authorization link.

- `POST /wechat/component/auth`, the authorization event URL: tickets, `authorized`,
  `updateauthorized`, `unauthorized`.
- `POST /wechat/component/push/<appid>`, the message and event URL (`…/wechat/component/push/$APPID$`
  at WeChat): the merchant apps' subscribe-message pushes, applied as an app's own pushes are.

Both are verified and decrypted with the platform's Token and key only; the decrypted appid must be
the platform's (403 otherwise). Both answer `success` at once; nothing calls WeChat while it waits.
- `GET /wechat/component/authorize` sends a merchant to WeChat's authorization page; WeChat sends
  them back to `GET /wechat/component/authorized`, which completes the authorization.
"""

from __future__ import annotations

import time
from html import escape
from urllib.parse import urlencode

from flask import Blueprint, current_app, make_response, request

from backend import i18n
from backend.api.openapi import doc, error, query
from backend.api.push import SAFE_MODE, SIGNED, TEXT
from backend.apps import MiniProgram, MiniProgramSettings
from backend.component import events
from backend.component.merchants import MerchantApp, Platform
from backend.consent import push
from backend.errors import InvalidRequest, NotFound, ServiceUnavailable
from backend.wechat import push as wechat_push
from backend.wechat.crypto import PushCipher
from backend.wechat.errors import PlatformError, WeChatError
from backend.wechat.push import PushRejected

bp = Blueprint("component", __name__)
LOGIN_PAGE = "https://mp.weixin.qq.com/cgi-bin/componentloginpage"
AUTH_TYPE_MINI_PROGRAMS = 2
NOT_A_PLATFORM = error(NotFound, when="No third-party platform is configured (`WX_COMPONENT_*`).")
REFUSED = error(
    push.PushRefused,
    when="The signature, msg_signature or timestamp does not hold under the platform's Token, or the decrypted "
    "appid is not the platform's. Nothing was recorded.",
)
MALFORMED = error(InvalidRequest, when="The push is authentic but its body can't be read. Nothing was recorded.")
PUSH_BODY = {"application/json": {"schema": {"type": "object"}}, "text/xml": {"schema": {"type": "string"}}}
SUCCESS = {"type": "string", "enum": ["success"]}
# Both push URLs: signed and encrypted as WeChat does, answered `success` in plain text.
AS_A_PUSH = {
    "media_type": "text/plain",
    "params": [*SIGNED, *SAFE_MODE],
    "body_content": PUSH_BODY,
    "errors": [MALFORMED, REFUSED, NOT_A_PLATFORM],
}


def platform() -> Platform:
    found = current_app.extensions["apps"].platform
    if found is None:
        raise NotFound()
    return found


def platform_keys(current: Platform) -> MiniProgram:
    """The platform's Token and key as a push receiver: what every push to the platform is verified with."""
    settings = current.settings
    return MiniProgram(
        MiniProgramSettings(
            appid=settings.appid, secret="", token=settings.token, encoding_aes_key=settings.encoding_aes_key
        ),
        client=None,
    )


@bp.post("/wechat/component/auth")
@doc(200, SUCCESS, **AS_A_PUSH)
def receive_authorization_event():
    """The platform's authorization event URL.

    It takes `component_verify_ticket`, `authorized`, `updateauthorized` and `unauthorized`. A
    ticket is kept until a newer one arrives; an authorization is completed after the answer
    (`api_query_auth`); `unauthorized` freezes the app at once."""
    current = platform()
    keys = platform_keys(current)
    settings = current.settings
    try:
        wechat_push.verify_query(settings.token, request.args, time.time())
        raw = request.stream.read(wechat_push.MAX_BODY_BYTES + 1)
        message = wechat_push.open_push(
            raw, request.args, settings.token, PushCipher(settings.encoding_aes_key, settings.appid)
        )
    except PushRejected as exc:
        raise push.refuse(keys, exc) from None
    after = events.receive(current, message)
    response = make_response(("success", 200, TEXT))
    if after is not None:
        flask_app = current_app._get_current_object()
        response.call_on_close(lambda: after(flask_app))
    return response


@bp.post("/wechat/component/push/<appid>")
@doc(200, SUCCESS, **AS_A_PUSH)
def receive_merchant_push(appid: str):
    """The platform's message and event URL for the merchant app `appid` (`$APPID$` at WeChat).

    Its subscribe-message events, which are the authority for its credits. A push for an app this
    backend doesn't know is answered `success` and records nothing."""
    current = platform()
    merchant = current_app.extensions["apps"].get(appid)
    receiver = merchant if isinstance(merchant, MerchantApp) else platform_keys(current)
    event = push.authenticate(receiver, request.args, request.stream)
    response = make_response(("success", 200, TEXT))
    if receiver is not merchant:
        return response  # verified, but not an app of ours
    unknown_templates = push.handle(merchant.appid, event)
    if unknown_templates:
        flask_app = current_app._get_current_object()
        response.call_on_close(lambda: push.look_up_templates(flask_app, merchant, unknown_templates))
    return response


@bp.get("/wechat/component/authorize")
@doc(
    302,
    None,
    errors=[
        NOT_A_PLATFORM,
        error(ServiceUnavailable, when="No pre-auth code could be made: no valid ticket yet, or WeChat failed."),
    ],
)
def authorization_link():
    """A merchant's link to authorize the platform.

    302 to WeChat's authorization page for mini programs (`auth_type=2`) with a fresh pre-auth
    code; WeChat sends them back to `/wechat/component/authorized`."""
    current = platform()
    try:
        pre_auth_code = current.component.create_pre_auth_code()
    except PlatformError:
        raise  # answered by its own handler (backend/errors.py): 503 with Retry-After for a missing ticket
    except WeChatError as exc:
        raise ServiceUnavailable(details={"errcode": exc.errcode} if exc.errcode else {}) from None
    base = current_app.config["PUBLIC_BASE_URL"]
    if not base:  # the request's own host, as ProxyFix read it from TRUSTED_PROXIES' headers
        base = request.host_url
    query_string = urlencode(
        {
            "component_appid": current.settings.appid,
            "pre_auth_code": pre_auth_code,
            "redirect_uri": base.rstrip("/") + "/wechat/component/authorized",
            "auth_type": AUTH_TYPE_MINI_PROGRAMS,
        }
    )
    # No body (the browser follows Location); a pre-auth code is single-use, so never cached.
    return make_response(("", 302, {"Location": f"{LOGIN_PAGE}?{query_string}", "Cache-Control": "no-store"}))


DONE_PAGE = ("The mini program {appid} has authorized the platform.", "小程序 {appid} 已授权本第三方平台。")


@bp.get("/wechat/component/authorized")
@doc(
    200,
    {"type": "string"},
    media_type="text/html",
    params=[query("auth_code", "The authorization code WeChat appends when it sends the merchant back.")],
    errors=[
        NOT_A_PLATFORM,
        error(InvalidRequest, when="No `auth_code`, or WeChat refused it (used, expired)."),
    ],
)
def authorization_done():
    """Where WeChat sends a merchant after the authorization page.

    It completes the authorization (as the `authorized` push does) and shows a short page saying
    so, in the browser's language."""
    current = platform()
    code = request.args.get("auth_code", "")
    if not code:
        raise InvalidRequest(details={"auth_code": "required"})
    language = i18n.negotiate(request.accept_languages)
    try:
        appid = events.complete(current, code)
    except WeChatError as exc:
        raise InvalidRequest(
            "The platform could not complete the authorization: {reason}.",
            details={"auth_code": "refused by WeChat"},
            params={"reason": f"errcode {exc.errcode}" if exc.errcode else "WeChat did not answer"},
        ) from None
    english, chinese = DONE_PAGE
    text = (chinese if language != i18n.ENGLISH else english).format(appid=escape(appid))
    page = f'<!doctype html><meta charset="utf-8"><title>OK</title><p>{text}</p>'
    return make_response((page, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}))
