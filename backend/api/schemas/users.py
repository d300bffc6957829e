"""`/api/v1/users`, `/api/v1/binding-codes` and `/api/v1/me/binding`: the users as business code knows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_dump, validate, validates_schema

from backend.api.schemas.common import (
    OPENID,
    AnswerSchema,
    ExternalId,
    UtcDateTime,
    phone_number_field,
)
from backend.api.schemas.subscriptions import SubscriptionSchema

BINDING_CODE_TTL = 600  # seconds a binding code is valid unless the request says otherwise
MAX_BINDING_CODE_TTL = 7 * 86400  # long enough for an e-mail to a new employee


class ExternalIdSchema(Schema):
    """`PUT /api/v1/users/{user_id}/external-id`."""

    class Meta:
        unknown = RAISE

    external_id = ExternalId(
        required=True,
        metadata={"description": "The business system's id for the person, unique per app.", "example": "EMP-00123"},
    )


class CodeOptionsSchema(Schema):
    """What every binding-code request may add: the app, and how long the code lives."""

    appid = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "The mini program's AppID: required for a key of several apps."},
    )
    expires_in = fields.Integer(
        strict=True,
        load_default=BINDING_CODE_TTL,
        validate=validate.Range(min=60, max=MAX_BINDING_CODE_TTL),
        metadata={"description": f"Seconds the code is valid, 60 to {MAX_BINDING_CODE_TTL} (7 days)."},
    )


class BindingCodeRequestSchema(ExternalIdSchema, CodeOptionsSchema):
    """`POST /api/v1/binding-codes`."""


class RedeemSchema(Schema):
    """`POST /api/v1/me/binding`."""

    class Meta:
        unknown = RAISE

    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The code the business system showed the person (case, spaces and dashes ignored)."},
    )


class UserLookupSchema(Schema):
    """`GET /api/v1/users`'s query: exactly one of openid, external_id, phone_number, unionid."""

    class Meta:
        unknown = RAISE

    openid = fields.String(validate=OPENID)
    external_id = ExternalId()
    phone_number = phone_number_field()
    unionid = fields.String(validate=OPENID)

    @validates_schema
    def one_filter(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("give exactly one of openid, external_id, phone_number or unionid", "query")


@dataclass(frozen=True)
class BindingCode:
    code: str
    expires_at: datetime


class BindingCodeSchema(AnswerSchema):
    """`POST /api/v1/binding-codes`'s answer."""

    code = fields.String(
        metadata={"description": "Show it to the person; it is never shown again.", "example": "7KQ2M9XD4HWP"}
    )
    expires_at = UtcDateTime()


class AccountSchema(AnswerSchema):
    """A user as business code sees it: dumps backend/users/queries.py's Account."""

    id = fields.Integer(attribute="user.id")
    appid = fields.String(attribute="user.app_id")
    openid = fields.String(attribute="user.openid")
    unionid = fields.String(attribute="user.unionid", allow_none=True)
    external_id = fields.String(
        attribute="user.external_id", allow_none=True, metadata={"description": "null until bound."}
    )
    has_phone = fields.Function(
        lambda account: bool(account.user.phone_hash),
        metadata={"type": "boolean", "description": "Whether a send by `phone_number` can find the user."},
    )
    subscriptions = fields.List(
        fields.Nested(SubscriptionSchema),
        metadata={"description": "Every template the user has answered, with the credits left."},
    )
    main_switch = fields.Boolean(
        attribute="user.main_switch",
        allow_none=True,
        metadata={
            "description": "wx.getSetting's mainSwitch as the mini program last reported it: false, every subscribe "
            "message is off (sends answer 409 main_switch_off); null, never reported."
        },
    )
    waiting = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Held messages (`awaiting_consent`) per template id: sent with the next credits."},
    )
    always = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": 'Templates whose "always keep this choice" the user ticked, with the kept answer; the '
            "popup no longer shows for them, but each one-time message still needs an accept (no credit here)."
        },
    )
    created_at = UtcDateTime(attribute="user.created_at")


class AccountListSchema(AnswerSchema):
    """Dumps a list of accounts as `{"users": [...]}`."""

    users = fields.List(fields.Nested(AccountSchema))

    @pre_dump
    def wrap(self, accounts: list[Any], **kwargs: Any) -> dict[str, Any]:
        return {"users": accounts}


class ErasedSchema(AnswerSchema):
    """`DELETE /api/v1/users/{user_id}` and `DELETE /api/v1/me`: the erased user."""

    id = fields.Integer(metadata={"description": "The user id, which stays (anonymous)."})
    erased_at = fields.String(metadata={"description": "When the person was erased (the first time), ISO 8601 UTC."})


class ExportSchema(AnswerSchema):
    """`GET /api/v1/users/{user_id}/export`: everything held about the person (backend/privacy/export.py)."""

    user = fields.Dict(
        metadata={
            "description": "id, app_id, openid, unionid, external_id, phone_number, country_code, created_at, "
            "erased_at."
        }
    )
    subscriptions = fields.List(fields.Dict(), metadata={"description": "Per template: status and credits."})
    device_subscriptions = fields.List(fields.Dict(), metadata={"description": "Per template and device."})
    device_bindings = fields.List(fields.Dict(), metadata={"description": "The devices the person may follow."})
    consent_events = fields.List(
        fields.Dict(), metadata={"description": "Every popup answer, push and credit move, with its scene."}
    )
    messages = fields.List(fields.Dict(), metadata={"description": "Every message with its values and outcome."})
    webhook_events = fields.List(fields.Dict(), metadata={"description": "Webhook events that name the person."})
    exported_at = fields.String(metadata={"description": "When this document was made, ISO 8601 UTC."})
