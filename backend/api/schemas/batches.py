"""`/api/v1/batches`: one template to many recipients, and its progress."""

from __future__ import annotations

from marshmallow import RAISE, fields, validate

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
from backend.sending.batches import MAX_RECIPIENTS
from backend.states import BatchStatus


class RecipientSchema(RecipientFields):
    class Meta:
        unknown = RAISE

    openapi_description = ONE_RECIPIENT

    data = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={"description": "This recipient's values, over the batch's `data`."},
    )


class BatchSendSchema(SendOptionsSchema, LaterSendFields, HoldFields):
    """`POST /api/v1/batches`: the send options and up to 10,000 recipients."""

    data = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={"description": "Keyword to value for every recipient; a recipient's own `data` overrides it."},
    )
    recipients = fields.List(
        fields.Nested(RecipientSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_RECIPIENTS),
        metadata={"description": "Each with exactly one of openid, user_id, external_id or phone_number."},
    )


class BatchSchema(AnswerSchema):
    """The API's `<batch>`: dumps a batch with its counts (backend/sending/queries.py, BatchProgress)."""

    id = fields.String(attribute="batch.public_id")
    appid = fields.String(attribute="batch.app_id")
    status = fields.String(attribute="batch.status", metadata={"enum": list(BatchStatus)})
    template_id = fields.String(attribute="batch.template_id")
    total = fields.Integer(attribute="batch.total")
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Messages per outcome (scheduled, awaiting_consent, queued, sending, sent, unknown, "
            "canceled, or a failed message's error code); they add up to total.",
        },
    )
    created_at = UtcDateTime(attribute="batch.created_at")
    finished_at = UtcDateTime(attribute="batch.finished_at", allow_none=True)


class BatchMessageSchema(AnswerSchema):
    """One message of a batch, with its outcome."""

    id = fields.String(attribute="public_id")
    appid = fields.String(attribute="app_id")
    user_id = fields.Integer(allow_none=True, metadata={"description": "null when no user matched the recipient."})
    openid = fields.String(allow_none=True)
    outcome = fields.String(
        attribute="shown_outcome",
        metadata={
            "description": "scheduled, awaiting_consent (held for a credit), queued, sending, sent, unknown or "
            "canceled, or for a failed message its error code."
        },
    )
    errcode = fields.Integer(allow_none=True)


class BatchMessagePageSchema(AnswerSchema):
    """Dumps a page of a batch's messages (backend/sending/queries.py, Page)."""

    items = fields.List(fields.Nested(BatchMessageSchema))
    next_cursor = next_cursor_field()
