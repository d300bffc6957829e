"""`/wechat/push`: WeChat's message push (URL verification and events)."""

from flask import Blueprint, request

from backend.errors import InvalidRequest, NotFound
from backend.openapi import doc, error, query
from backend.services import push

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
NOT_CONFIGURED = error(NotFound, when="WX_TOKEN is not set: message push is not configured.")
BAD_QUERY = error(InvalidRequest, when="A query parameter contains NUL.")


@bp.get("/wechat/push")
@doc(
    200,
    {"type": "string", "description": "The echostr."},
    media_type="text/plain",
    params=[*SIGNED, query("echostr", "A random string to echo back.")],
    errors=[BAD_QUERY, error(push.PushRefused, when="The signature or timestamp is not valid."), NOT_CONFIGURED],
)
def verify_push_url():
    """WeChat's check of the message-push URL: the `echostr` back when the signature holds."""
    return push.verify_url(request.args), 200, TEXT


@bp.post("/wechat/push")
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
            when="The body is neither JSON nor XML, or XML with a DTD or entities, or a query parameter contains NUL.",
        ),
        error(
            push.PushRefused,
            when="The signature, msg_signature, AppID or timestamp is not valid: nothing was recorded.",
        ),
        NOT_CONFIGURED,
    ],
)
def receive_push():
    """A message push from WeChat (plaintext or safe mode, JSON or XML).

    Handles subscribe_msg_popup_event, subscribe_msg_change_event and subscribe_msg_sent_event.
    A replayed item answers `success` and changes nothing.
    """
    try:
        message = push.authenticate(request.args, request.get_data())
    except (push.PushRefused, push.PushMalformed) as exc:
        push.record_refusal(exc.message, request.args)
        raise
    push.handle(message)
    return "success", 200, TEXT
