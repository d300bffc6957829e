"""`/wechat/push/<appid>` (and `/wechat/push` for one app): WeChat's message push (URL verification and events).

Each app's pushes come to its own URL and are verified with that app's Token and EncodingAESKey
only (docs/wechat.md §12); `/wechat/push` serves the one-app setup.
"""

from flask import Blueprint, current_app, make_response, request

from backend.api.openapi import doc, error, query
from backend.apps import MiniProgram
from backend.consent import push
from backend.errors import InvalidRequest, NotFound

bp = Blueprint("push", __name__)
TEXT = {"Content-Type": "text/plain; charset=utf-8"}
SIGNED = [
    query("signature", "SHA-1 over the sorted Token, timestamp and nonce."),
    query("timestamp", "Unix time; a push more than 300 s from the server clock is refused."),
    query("nonce", "A random number from WeChat."),
]
SAFE_MODE = [
    query("openid", "The user the push is about (safe mode)."),
    query("encrypt_type", "`aes` for a safe-mode push."),
    query("msg_signature", "SHA-1 over the sorted Token, timestamp, nonce and the body's Encrypt (safe mode)."),
]
NOT_CONFIGURED = error(
    NotFound,
    when="Message push is not configured for the app (no Token), the appid is not served here, or (bare "
    "`/wechat/push`) several apps are configured.",
)
BAD_QUERY = error(InvalidRequest, when="A query parameter contains NUL.")


def push_app(appid: str | None) -> MiniProgram:
    """The app a push URL is for: `/wechat/push/<appid>`, or `/wechat/push` in a one-app setup.

    404 (nothing is listening) for an app this backend does not serve, for `/wechat/push` while
    several apps are configured, and for an app without a push Token.
    """
    apps = current_app.extensions["apps"]
    configured = apps.configured()  # a platform's merchants have their own URL: /wechat/component/push/<appid>
    mini_program = apps.get(appid) if appid is not None else (configured[0] if len(configured) == 1 else None)
    # A platform's merchant app has its pushes at /wechat/component/push/<appid>, in the platform's keys.
    if mini_program is None or not mini_program.push_token or mini_program.push_appid != mini_program.appid:
        raise NotFound()
    return mini_program


@bp.get("/wechat/push", defaults={"appid": None})
@bp.get("/wechat/push/<appid>", endpoint="verify_app_push_url")
@doc(
    200,
    {"type": "string", "description": "The echostr."},
    media_type="text/plain",
    params=[*SIGNED, query("echostr", "A random string to echo back.")],
    errors=[
        BAD_QUERY,
        error(push.PushRefused, when="The signature is not valid, or the timestamp is not within 300 s of ours."),
        NOT_CONFIGURED,
    ],
)
def verify_push_url(appid: str | None):
    """WeChat's check of the message-push URL: the `echostr` back when the signature holds."""
    return push.verify_url(push_app(appid), request.args), 200, TEXT


@bp.post("/wechat/push", defaults={"appid": None})
@bp.post("/wechat/push/<appid>", endpoint="receive_app_push")
@doc(
    200,
    {"type": "string", "enum": ["success"]},
    media_type="text/plain",
    params=[*SIGNED, *SAFE_MODE],
    body_content={
        "application/json": {"schema": {"type": "object"}},
        "text/xml": {"schema": {"type": "string"}},
    },
    errors=[
        error(
            InvalidRequest,
            when="The push is authentic but its body is not one WeChat sends: not UTF-8 JSON or XML, XML with "
            "a DTD or entities, nested too deep, over 64 KiB, a field that is over-long or not valid text, "
            "more than 5 List items; or a query parameter contains NUL. Nothing was recorded.",
        ),
        error(
            push.PushRefused,
            when="The push could not be authenticated: the timestamp is not a number of seconds within 300 s of "
            "ours, the signature, msg_signature or AppID does not hold, an EncodingAESKey is set and the body "
            "has no Encrypt, or (plaintext mode) this signed query came with another body before. "
            "Nothing was recorded.",
        ),
        NOT_CONFIGURED,
    ],
)
def receive_push(appid: str | None):
    """A message push from WeChat (plaintext or safe mode, JSON or XML).

    Handles subscribe_msg_popup_event, subscribe_msg_change_event and subscribe_msg_sent_event.
    With an EncodingAESKey set, only the ciphertext (`Encrypt` under `msg_signature`) is
    accepted. A replayed item answers `success` and changes nothing. Templates the backend does
    not know yet are looked up at WeChat after the answer, never while WeChat waits for it.
    """
    mini_program = push_app(appid)
    event = push.authenticate(mini_program, request.args, request.stream)
    unknown_templates = push.handle(mini_program.appid, event)
    response = make_response(("success", 200, TEXT))
    if unknown_templates:
        flask_app = current_app._get_current_object()
        # After the answer was sent, with the app's own client.
        response.call_on_close(lambda: push.look_up_templates(flask_app, mini_program, unknown_templates))
    return response
