"""Device subscribe messages (docs/wechat.md §11): the sn_ticket, and the device send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_dump, validate, validates_schema

from backend.api.schemas.common import (
    NO_NUL,
    OPENID,
    USER_ID,
    AnswerSchema,
    DeviceSchema,
    SendOptionsSchema,
    UtcDateTime,
    model_id_field,
    sn_field,
)
from backend.api.schemas.messages import shown_status
from backend.api.schemas.users import BindingCodeSchema, CodeOptionsSchema, RedeemSchema
from backend.states import BatchStatus, MessageStatus, Outcome

MAX_DEVICE_RECIPIENTS = 10_000


class SnTicketRequestSchema(Schema):
    """`POST /api/v1/devices/sn-ticket`: the device the popup is for."""

    class Meta:
        unknown = EXCLUDE

    model_id = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=128), NO_NUL],
        metadata={"description": "The device type's model_id from device access (设备接入).", "example": "washer-1"},
    )
    sn = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=256), NO_NUL],
        metadata={
            "description": "The device's serial number: WeChat takes at most 128 bytes of digits, letters, `_`, `-`.",
            "example": "SN-0001",
        },
    )


@dataclass(frozen=True)
class SnTicket:
    sn_ticket: str
    expires_in: int


class SnTicketSchema(AnswerSchema):
    """`POST /api/v1/devices/sn-ticket`'s answer."""

    sn_ticket = fields.String(metadata={"description": "For `wx.requestSubscribeDeviceMessage`'s `snTicket`."})
    expires_in = fields.Integer(metadata={"description": "Seconds the ticket stays valid (at most 300)."})


class DeviceRecipientSchema(Schema):
    class Meta:
        unknown = RAISE

    openapi_description = "Exactly one of `openid` or `user_id` (400 invalid_request otherwise)."

    openid = fields.String(validate=OPENID)
    user_id = fields.Integer(strict=True, validate=USER_ID)

    @validates_schema
    def one_recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("openid" in data) == ("user_id" in data):
            raise ValidationError("give exactly one of openid or user_id", "openid")


class DeviceSendSchema(SendOptionsSchema):
    """`POST /api/v1/device-messages`: a device template, the device, its values, and whom to tell."""

    class Meta:
        unknown = RAISE
        exclude = ("truncate",)  # enum values are exact: nothing to shorten

    model_id = model_id_field()
    sn = sn_field()
    data = fields.Dict(
        required=True,
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": 'Keyword to value (`"text"` or `{"value": "text"}`): every keyword of the template, '
            "each one of its enum values (422 invalid_template_data).",
            "example": {"thing1": "洗衣完成", "phrase2": "请及时取衣"},
        },
    )
    recipients = fields.List(
        fields.Nested(DeviceRecipientSchema),
        load_default=None,
        validate=validate.Length(min=1, max=MAX_DEVICE_RECIPIENTS),
        metadata={
            "description": "Each with exactly one of openid or user_id; without it, everyone whose subscription "
            "to the template on this device is active."
        },
    )


class DeviceMessageItemSchema(AnswerSchema):
    """One recipient's device message in `POST /api/v1/device-messages`'s answer."""

    appid = fields.String(attribute="app_id")
    id = fields.String(
        attribute="public_id", metadata={"description": "The message id, for `GET /api/v1/messages/{message_id}`."}
    )
    user_id = fields.Integer()
    openid = fields.String()
    status = fields.Function(
        shown_status,
        metadata={
            "type": "string",
            "enum": [MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN],
        },
    )
    outcome = fields.String(
        allow_none=True,
        metadata={"description": "A failed message's error code: consent_revoked (43101), wechat_rejected, ..."},
    )
    errcode = fields.Integer(
        allow_none=True, metadata={"description": "WeChat's errcode (e.g. 9800006), when it refused."}
    )
    errmsg = fields.String(allow_none=True)


class SkippedSchema(AnswerSchema):
    user_id = fields.Integer(allow_none=True, metadata={"description": "null for an openid no user has."})
    openid = fields.String(allow_none=True)
    reason = fields.String(metadata={"enum": [Outcome.CONSENT_REQUIRED, Outcome.USER_NOT_FOUND]})


class DeviceSendResultSchema(AnswerSchema):
    """`POST /api/v1/device-messages`'s answer (201: delivered now; 202: running as a batch);
    dumps backend/sending/queries.py's DeviceSend."""

    # 201 has messages; 202 total and counts.
    sometimes_absent = ("messages", "total", "counts")

    id = fields.String(
        attribute="batch.public_id",
        metadata={"description": "The send's id: `GET /api/v1/batches/{batch_id}` follows it."},
    )
    appid = fields.String(attribute="batch.app_id")
    status = fields.String(attribute="batch.status", metadata={"enum": list(BatchStatus)})
    skipped = fields.List(fields.Nested(SkippedSchema), metadata={"description": "Recipients not sent to: no cost."})
    messages = fields.List(
        fields.Nested(DeviceMessageItemSchema),
        metadata={"description": "One per recipient with an active subscription (201 only)."},
    )
    total = fields.Integer(metadata={"description": "Messages written (202)."})
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Messages per outcome, as `GET /api/v1/batches/{batch_id}` (202)."},
    )


# -- device bindings: the people who may follow a device ---------------------------------------


class DeviceBindingSchema(AnswerSchema):
    """A user bound to a device: `PUT /api/v1/devices/{model_id}/{sn}/users/{user_id}`,
    `POST /api/v1/me/devices`, and each item of the device's list."""

    appid = fields.String(attribute="app_id")
    model_id = fields.String()
    sn = fields.String()
    user_id = fields.Integer()
    created_at = UtcDateTime(metadata={"description": "When the user was bound."})


class DeviceBindingListSchema(AnswerSchema):
    """`GET /api/v1/devices/{model_id}/{sn}/users`: `{"users": [...]}`, oldest binding first."""

    users = fields.List(fields.Nested(DeviceBindingSchema))

    @pre_dump
    def wrap(self, bindings: list[Any], **kwargs: Any) -> dict[str, Any]:
        return {"users": bindings}


class DeviceBindingCodeRequestSchema(DeviceSchema, CodeOptionsSchema):
    """`POST /api/v1/device-binding-codes`: the device whose code to print or show."""


class DeviceBindingCodeSchema(BindingCodeSchema):
    """`POST /api/v1/device-binding-codes`'s answer: the code (for the device's QR code, or to
    show in the business app) and when it expires."""


class DeviceRedeemSchema(RedeemSchema):
    """`POST /api/v1/me/devices`: the code scanned from the device's QR code, or typed."""
