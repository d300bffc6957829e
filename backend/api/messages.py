"""`/api/v1/messages`: business code sends one subscribe message, and reads its record."""

from flask import Blueprint, g, request

from backend.api.guards import api_key_required
from backend.api.idempotency import held_key, idempotent, replay_of
from backend.api.openapi import API_KEY, CURSOR, PREFER, PREFERENCE_APPLIED, Answer, doc, error, query
from backend.api.pagination import requested_page
from backend.api.schemas.common import dump
from backend.api.schemas.messages import MessagePageSchema, MessageSchema, MessageSentSchema, SendSchema
from backend.consent import device_subscriptions
from backend.delivery.outbox import finish_batch_if_done, send_left_by
from backend.errors import (
    AmbiguousRecipient,
    ConsentRequired,
    ConsentRevoked,
    InvalidRequest,
    InvalidTemplateData,
    NotCancelable,
    NotFound,
    RateLimited,
    UserErased,
    UserNotFound,
    WeChatRejected,
    WeChatUnavailable,
    WrongTemplateKind,
)
from backend.infra.idempotency import IdempotencyInProgress, Replay
from backend.models import Message
from backend.sending import later, queries
from backend.sending.single import SendRequest, SendResult, send_message
from backend.states import MessageStatus, Outcome
from backend.users import recipients

bp = Blueprint("messages", __name__, url_prefix="/api/v1")

# A failed send whose request died before answering: the answer it would have given. The
# failures not listed (quota, WeChat down) returned the credit and invite a retry: a fresh run.
_FAILED_ANSWERS = {Outcome.CONSENT_REVOKED: ConsentRevoked, Outcome.WECHAT_REJECTED: WeChatRejected}


def _prefers_async() -> bool:
    """`Prefer: respond-async` (RFC 7240): comma-separated preferences, each `token[=value][;…]`."""
    return any(
        preference.split(";")[0].split("=")[0].strip().lower() == "respond-async"
        for header in request.headers.getlist("Prefer")
        for preference in header.split(",")
    )


def _accepted(message: Message):
    """The 202 of a send delivered later: the message's record, `queued` or `scheduled`."""
    headers = {"Preference-Applied": "respond-async"} if _prefers_async() else {}
    return message, 202, headers


def _answer_from_message(effect: dict) -> Replay | None:
    """A retry after the first request died: answered by the status of the message it reserved."""
    message = send_left_by(effect["message"])
    if message is None:
        return None
    if effect.get("later"):  # queued or scheduled: its 202, as the message stands now
        return Replay(202, dump(MessageSchema, message))
    details = {"message_id": message.public_id}
    if message.status == MessageStatus.SENT:
        return Replay(201, dump(MessageSentSchema, SendResult(message, effect["remaining"])))
    if message.status == MessageStatus.UNKNOWN:
        # The answer the first request would have given (sending/single.py, DeliveryUnknown).
        unknown = WeChatUnavailable(
            "WeChat did not answer after the message was sent; it may have been delivered.",
            details={**details, "status": MessageStatus.UNKNOWN},
            status=502,
        )
        return replay_of(unknown)
    if message.status == MessageStatus.FAILED:
        failure = _FAILED_ANSWERS.get(message.outcome)
        if failure is None:
            return None
        return replay_of(failure(details={**details, "errcode": message.errcode, "errmsg": message.errmsg}))
    raise IdempotencyInProgress()  # still `sending`: the sweeper decides after SENDING_TIMEOUT


@bp.post("/messages")
@api_key_required
@idempotent(_answer_from_message)
@doc(
    201,
    MessageSentSchema,
    body=SendSchema,
    auth=API_KEY,
    idempotent=True,
    params=[PREFER],
    also=[
        Answer(
            202,
            MessageSchema,
            "Accepted (`Prefer: respond-async` or `send_at`): the message is `queued` or `scheduled`; consent is "
            "checked and the credit spent at delivery.",
            headers=(PREFERENCE_APPLIED,),
        )
    ],
    errors=[
        UserNotFound,
        error(UserErased, when="The `user_id` names a user who was erased."),
        AmbiguousRecipient,
        error(WrongTemplateKind, when="A device template: those go to `POST /api/v1/device-messages`."),
        ConsentRequired,
        ConsentRevoked,
        InvalidTemplateData,
        WeChatRejected,
        RateLimited,
        WeChatUnavailable,
        error(
            WeChatUnavailable,
            status=502,
            when="WeChat did not answer after the message was sent: it may have arrived, the credit stays "
            "spent and the message's status is `unknown`.",
        ),
    ],
)
def create_message(body: dict):
    """Send one subscribe message.

    The recipient is exactly one of openid, user_id, external_id or phone_number. Checks, in
    order: the API key, the body, the recipient, the template data (against the keyword rules of
    the template, learnt from WeChat the first time its id is seen), the user's consent; then
    exactly one WeChat call per credit spent. With `Prefer: respond-async` or `send_at` the
    answer is 202 once the values are checked: the workers deliver it (now, or at `send_at`),
    checking consent then; `GET /api/v1/messages/{message_id}` shows the outcome.
    """
    body = recipients.as_send_fields(g.mini_program.appid, body)
    body.pop("appid", None)  # settled by the key's guard (g.mini_program); the message is written with it
    device_subscriptions.refuse_device_templates(g.mini_program, [body["template_id"]])  # they go to /device-messages
    send_at = body.pop("send_at")
    send = SendRequest(**body)
    if send_at is not None or _prefers_async():
        return _accepted(later.queue_message(g.mini_program, send, send_at, held_key()))
    return send_message(g.mini_program, send, held_key())


@bp.get("/messages")
@api_key_required
@doc(
    200,
    MessagePageSchema,
    auth=API_KEY,
    params=[query("status", "Only messages with this status, e.g. `unknown`."), CURSOR],
    errors=[InvalidRequest],
)
def list_messages():
    """Messages, oldest first, a page at a time.

    Operators' view, e.g. `?status=unknown`: messages WeChat may or may not have delivered.
    """
    return queries.messages(g.apps, request.args.get("status"), *requested_page())


@bp.get("/messages/<message_id>")
@api_key_required
@doc(
    200,
    MessageSchema,
    auth=API_KEY,
    errors=[
        error(NotFound, when="No message with that id."),
        error(UserErased, when="The message's recipient was erased: its values and recipient are gone."),
    ],
)
def get_message(message_id: str):
    """A message's record: its status, errcode and timestamps.

    The status is one of `scheduled`, `queued`, `sent`, `failed`, `unknown`, `canceled`."""
    # A message of an app the key may not act for is no message here: 404, not 403 (nothing leaks).
    return queries.message(g.apps, message_id)


@bp.delete("/messages/<message_id>")
@api_key_required
@doc(
    200,
    MessageSchema,
    auth=API_KEY,
    errors=[error(NotFound, when="No message with that id."), NotCancelable],
)
def cancel_message(message_id: str):
    """Cancel a scheduled or queued message.

    It becomes `canceled`: it spends no credit and never reaches WeChat, even when its delivery
    was about to start. A message being sent or already settled is 409 `not_cancelable`.
    """
    message = later.cancel(message_id, g.apps)
    finish_batch_if_done(message.batch_id)  # its batch may have nothing left to send
    return message
