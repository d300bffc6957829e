"""`/api/v1/messages`: one send, and the message records."""

from __future__ import annotations

from marshmallow import RAISE, fields

from backend.api.schemas.common import (
    ONE_RECIPIENT,
    AnswerSchema,
    HoldFields,
    LaterSendFields,
    RecipientFields,
    SendOptionsSchema,
    UtcDateTime,
    next_cursor_field,
)
from backend.states import MessageStatus

# `sending` is an instant inside the backend: callers see it as `queued`.
SHOWN_STATUSES = [status for status in MessageStatus if status != MessageStatus.SENDING]


def shown_status(message) -> str:
    return MessageStatus.QUEUED if message.status == MessageStatus.SENDING else message.status


class SendSchema(SendOptionsSchema, LaterSendFields, HoldFields, RecipientFields):
    """`POST /api/v1/messages`: a recipient (exactly one of openid, user_id, external_id,
    phone_number), plus the send options."""

    class Meta:
        unknown = RAISE

    openapi_description = ONE_RECIPIENT


class MessageSchema(AnswerSchema):
    id = fields.String(attribute="public_id")
    appid = fields.String(attribute="app_id", metadata={"description": "The mini program the message is of."})
    status = fields.Function(shown_status, metadata={"type": "string", "enum": SHOWN_STATUSES})
    outcome = fields.String(
        allow_none=True, metadata={"description": "For a failed message, its error code (consent_required, ...)."}
    )
    template_id = fields.String()
    model_id = fields.String(allow_none=True, metadata={"description": "A device message's device type; else null."})
    sn = fields.String(allow_none=True, metadata={"description": "A device message's device; else null."})
    user_id = fields.Integer(allow_none=True, metadata={"description": "null for a batch recipient with no user."})
    errcode = fields.Integer(allow_none=True, metadata={"description": "WeChat's errcode, when it refused."})
    errmsg = fields.String(allow_none=True)
    wechat_msgid = fields.Integer(allow_none=True)
    delivery_status = fields.String(
        allow_none=True, metadata={"description": "What subscribe_msg_sent_event said, once WeChat pushed it."}
    )
    created_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)
    send_at = UtcDateTime(allow_none=True, metadata={"description": "When a scheduled message is due; null otherwise."})
    wait_until = UtcDateTime(
        allow_none=True,
        metadata={"description": 'For `if_no_credit: "wait"`: until when it waits for a credit; null otherwise.'},
    )
    updated_at = UtcDateTime()


class MessageSentSchema(AnswerSchema):
    """`POST /api/v1/messages`'s answer: dumps the send's result (sending/single.py, SendResult)."""

    sometimes_absent = ("wechat_msgid",)

    id = fields.String(
        attribute="message.public_id",
        metadata={"description": "The message id, for `GET /api/v1/messages/{message_id}`."},
    )
    appid = fields.String(attribute="message.app_id", metadata={"description": "The mini program the message is of."})
    status = fields.String(attribute="message.status", metadata={"enum": [MessageStatus.SENT]})
    template_id = fields.String(attribute="message.template_id")
    user_id = fields.Integer(attribute="message.user_id")
    remaining = fields.Integer(
        allow_none=True, metadata={"description": "Credits left for this template; null for long_term."}
    )
    wechat_msgid = fields.Integer(
        attribute="message.wechat_msgid", metadata={"description": "WeChat's msgid, when WeChat gave one."}
    )


class MessagePageSchema(AnswerSchema):
    """Dumps a page of messages (backend/sending/queries.py, Page)."""

    items = fields.List(fields.Nested(MessageSchema))
    next_cursor = next_cursor_field()
