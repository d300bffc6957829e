"""marshmallow schemas: the HTTP boundary. `load` validates input, `dump` shapes output."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from backend.errors import InvalidRequest
from backend.settings import MINIPROGRAM_STATES
from backend.users.phones import to_e164

TEMPLATE_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be a WeChat template id")
OPENID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be an openid")
# Free text that is stored: PostgreSQL text can't hold NUL (a 500 there, accepted by SQLite).
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")
# users.id is a 32-bit INTEGER on PostgreSQL: a larger id can't exist, and looking it up
# there failed with "integer out of range" (a 500).
USER_ID = validate.Range(min=1, max=2**31 - 1)
# The business system's own id for a person: any printable text (an employee number, a UUID).
EXTERNAL_ID = [
    validate.Length(min=1, max=128),
    validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters"),
]
RECIPIENT_KINDS = ("openid", "user_id", "external_id", "phone_number")
BINDING_CODE_TTL = 600  # seconds a binding code is valid unless the request says otherwise
MAX_BINDING_CODE_TTL = 7 * 86400  # long enough for an e-mail to a new employee
LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")
MAX_REPORT_TEMPLATES = 5  # WeChat's current limit for one popup (older clients: 3)
# Statuses wx.requestSubscribeMessage may give; the *With* variants are an accept with a reminder.
REPORT_STATUSES = {
    "accept": "accept",
    "reject": "reject",
    "ban": "ban",
    "filter": "filter",
    "acceptWithAudio": "accept",
    "acceptWithAlert": "accept",
}


MAX_SCHEDULE_AHEAD = timedelta(days=365)  # docs/api.md: send_at at most one year ahead


class SendAt(fields.Field):
    """ISO 8601 with a UTC offset (a time without one is ambiguous: refused), at most
    MAX_SCHEDULE_AHEAD ahead; a time in the past is kept, and means now."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            raise ValidationError("must be an ISO 8601 date and time, e.g. 2026-12-24T09:00:00+08:00")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValidationError("must carry a UTC offset (Z or +08:00): a time without one is ambiguous")
        if moment - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
            raise ValidationError("must be at most one year ahead")
        return moment.astimezone(UTC)


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC; SQLite hands back naive datetimes for timezone-aware columns."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    # One instance per schema class: building one per request cost more than the validation.
    # Loading keeps no state on the instance (marshmallow 4 has no schema context).
    return schema()


def load(schema: type[Schema], data: Any) -> Any:
    """Validate with `schema` or raise invalid_request with a reason per field."""
    try:
        return _instance(schema).load(data)
    except ValidationError as exc:
        raise InvalidRequest("The request failed validation.", _flatten(exc.messages)) from None


def _flatten(messages: Any) -> dict[str, Any]:
    if not isinstance(messages, dict):
        return {"body": messages}
    return {
        str(key): value[0] if isinstance(value, list) and len(value) == 1 else value for key, value in messages.items()
    }


class CodeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "The code the mini program got from `wx.login` or the getPhoneNumber button."},
    )


def appid_field(description: str, **options: Any) -> fields.String:
    """An optional `appid` in a body: which of the configured mini programs the request is for."""
    return fields.String(validate=validate.Length(min=1, max=64), metadata={"description": description}, **options)


class LoginRequestSchema(CodeSchema):
    """`POST /api/v1/auth/login`: the `wx.login` code and the app it came from."""

    appid = appid_field(
        "The mini program's AppID (`wx.getAccountInfoSync().miniProgram.appId`); required when several apps are "
        "configured (404 app_not_found for one this backend does not serve).",
        load_default=None,
    )


class SubscriptionReportSchema(Schema):
    """`{"results": {"<template id>": "accept", ...}, "scene": "..."}`; results may be the raw
    success object of wx.requestSubscribeMessage, `errMsg` included."""

    class Meta:
        unknown = RAISE

    results = fields.Dict(
        required=True,
        keys=fields.String(),
        values=fields.Raw(metadata={"type": "string", "enum": list(REPORT_STATUSES)}),
        metadata={
            "description": f"Template id to the popup's answer (accept, reject, ban or filter), at most "
            f"{MAX_REPORT_TEMPLATES} templates; the raw success object of wx.requestSubscribeMessage, "
            "`errMsg` included, is accepted too.",
            "minProperties": 1,
            "properties": {
                "errMsg": {"type": "string", "description": "Must end in `:ok`: report only a successful popup."},
                "errCode": {"description": "Ignored."},
            },
            "example": {"tmpl-order-shipped": "accept", "errMsg": "requestSubscribeMessage:ok"},
        },
    )
    scene = fields.String(
        load_default=None,
        validate=[validate.Length(max=64), NO_NUL],
        allow_none=True,
        metadata={"description": "A label for where the popup was shown, kept in the consent audit."},
    )
    # Loaded by DeviceReportSchema (the view dispatches on its presence); here for the document.
    device = fields.Nested(
        lambda: DeviceSchema(),
        load_default=None,
        metadata={
            "description": "For a device popup (wx.requestSubscribeDeviceMessage, at most 3 device templates): "
            "the device `{model_id, sn}` it was for. `acceptWithAudio` then records `audio: true`."
        },
    )

    @pre_load
    def drop_errmsg(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            results = dict(data["results"])
            err = results.pop("errMsg", None)
            results.pop("errCode", None)
            if err is not None and not str(err).endswith(":ok"):
                raise ValidationError({"results": [f"the popup failed ({err}); report only a successful result"]})
            data = {**data, "results": results}
        return data

    # What a popup may answer (its words → what is recorded), how many templates, the hint.
    statuses: dict[str, Any] = REPORT_STATUSES
    max_templates = MAX_REPORT_TEMPLATES
    too_many = f"at most {MAX_REPORT_TEMPLATES} templates per report"
    status_hint = "must be accept, reject, ban or filter"

    @validates_schema
    def check_results(self, data: dict[str, Any], **kwargs: Any) -> None:
        results = data["results"]
        if not results:
            raise ValidationError({"results": ["must name at least one template"]})
        if len(results) > self.max_templates:
            raise ValidationError({"results": [self.too_many]})
        problems = {}
        for template_id, status in results.items():
            try:
                TEMPLATE_ID(template_id)
            except ValidationError:
                problems[template_id] = "is not a template id"
                continue
            # A str check first: a list or object status is unhashable, and `in` raised TypeError (a 500).
            if not isinstance(status, str) or status not in self.statuses:
                problems[template_id] = self.status_hint
        if problems:
            raise ValidationError({"results": problems})

    @post_load
    def normalize(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["results"] = {tid: self.statuses[status] for tid, status in data["results"].items()}
        return data


class SendOptionsSchema(Schema):
    """The options a single send and a batch share."""

    class Meta:
        unknown = RAISE

    template_id = fields.String(
        required=True, validate=TEMPLATE_ID, metadata={"description": "The template's id (priTmplId)."}
    )
    # checked against the template's keyword rules, 422
    data = fields.Raw(
        required=True,
        metadata={
            "type": "object",
            "description": 'Keyword to value: `"text"` or `{"value": "text"}`; each value must meet its keyword '
            "type's rule (422 invalid_template_data).",
            "example": {"thing1": "Blue kettle", "time2": "2024年10月1日 15:01"},
        },
    )
    page = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=512), NO_NUL],
        metadata={"description": "The mini program page a tap on the message opens, with its query."},
    )
    miniprogram_state = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(MINIPROGRAM_STATES),
        metadata={"description": "Which version of the mini program opens; default WX_MINIPROGRAM_STATE."},
    )
    lang = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGS))
    appid = appid_field(
        "The app to act for; required when the API key may act for several apps (403 forbidden for one it may "
        "not, 404 app_not_found for one not served here).",
        load_only=True,
    )
    truncate = fields.Boolean(
        load_default=False,
        metadata={"description": "Shorten over-long thing-style values (ending in …) instead of refusing them."},
    )


class PhoneNumber(fields.String):
    """A phone number as business code writes it (`13800138000`, `+86 138 0013 8000`), loaded in E.164."""

    MAX_LENGTH = 32  # as written, spaces and dashes included

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.MAX_LENGTH:
            raise ValidationError(f"longer than {self.MAX_LENGTH} characters")
        e164 = to_e164(text)
        if e164 is None:
            raise ValidationError("must be a phone number, e.g. +8613800138000")
        return e164


def phone_number_field(**options: Any) -> PhoneNumber:
    return PhoneNumber(
        metadata={
            "maxLength": PhoneNumber.MAX_LENGTH,
            "description": "A number the user shared through the phone button, e.g. `13800138000`, "
            "`+86 138 0013 8000` or `+8613800138000` (a number without country code is Chinese).",
            "example": "+8613800138000",
        },
        **options,
    )


class RecipientFields(Schema):
    """A recipient: exactly one of openid, user_id, external_id, phone_number (docs/api.md, Recipients)."""

    openid = fields.String(validate=OPENID, metadata={"description": "The recipient's openid."})
    user_id = fields.Integer(strict=True, validate=USER_ID, metadata={"description": "The recipient's user id."})
    external_id = fields.String(
        validate=EXTERNAL_ID,
        metadata={
            "description": "The business system's id bound to the user (`PUT /api/v1/users/{user_id}/external-id`)."
        },
    )
    phone_number = phone_number_field()

    @validates_schema
    def one_recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(kind in data for kind in RECIPIENT_KINDS) != 1:
            raise ValidationError("give exactly one of openid, user_id, external_id or phone_number", "recipient")


class LaterSendFields(Schema):
    """`send_at`, for single sends and batches (not device messages)."""

    send_at = SendAt(
        load_default=None,
        metadata={
            "type": "string",
            "format": "date-time",
            "description": "Deliver then, not now (202, status `scheduled`): ISO 8601 with a UTC offset, at most one "
            "year ahead; a time in the past means now. Consent is checked and the credit spent at delivery.",
            "example": "2026-12-24T09:00:00+08:00",
        },
    )


class SendSchema(SendOptionsSchema, LaterSendFields, RecipientFields):
    """`POST /api/v1/messages`: a recipient (exactly one of openid, user_id, external_id,
    phone_number), plus the send options."""


# The schemas below only dump. `allow_none` and `metadata` on their fields describe the output
# for the OpenAPI document (backend/api/openapi.py); marshmallow's dump ignores both.


class UserSchema(Schema):
    id = fields.Integer()
    appid = fields.String(attribute="app_id", metadata={"description": "The mini program the user is of."})
    has_phone = fields.Function(lambda user: bool(user.phone_number), metadata={"type": "boolean"})


class MeSchema(UserSchema):
    phone_number = fields.String(allow_none=True, metadata={"description": "null until the user shared it."})
    external_id = fields.String(
        allow_none=True, metadata={"description": "The business system's id the user is linked to; null until bound."}
    )


class SubscriptionSchema(Schema):
    template_id = fields.String()
    kind = fields.String(metadata={"enum": ["one_time", "long_term", "device"]})
    status = fields.String(metadata={"enum": ["accept", "reject", "ban", "filter"]})
    remaining = fields.Function(
        lambda sub: sub.remaining if sub.kind == "one_time" else None,
        metadata={"type": "integer", "nullable": True, "description": "Send credits left; null for long_term."},
    )
    # The mini program's last report, which may be ahead of WeChat's push (see README).
    reported = fields.String(
        attribute="client_status",
        allow_none=True,
        metadata={"description": "The mini program's last report, which may be ahead of WeChat's push."},
    )
    # Only on device subscriptions (an ordinary Subscription has neither attribute: left out).
    device = fields.Dict(
        metadata={
            "description": "Device subscriptions only: the device `{model_id, sn}` the user subscribed on.",
            "example": {"model_id": "washer-1", "sn": "SN-0001"},
        }
    )
    audio = fields.Boolean(
        metadata={"description": "Device subscriptions only: accepted with a voice reminder (acceptWithAudio)."}
    )
    updated_at = UtcDateTime(format="iso")


class MessageSchema(Schema):
    id = fields.String(attribute="public_id")
    appid = fields.String(attribute="app_id", metadata={"description": "The mini program the message is of."})
    status = fields.Function(
        lambda message: "queued" if message.status == "sending" else message.status,
        metadata={"type": "string", "enum": ["scheduled", "queued", "sent", "failed", "unknown", "canceled"]},
    )
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
    created_at = UtcDateTime(format="iso")
    sent_at = UtcDateTime(format="iso", allow_none=True)
    send_at = UtcDateTime(
        format="iso", allow_none=True, metadata={"description": "When a scheduled message is due; null otherwise."}
    )
    updated_at = UtcDateTime(format="iso")


class RecipientSchema(RecipientFields):
    class Meta:
        unknown = RAISE

    data = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={"description": "This recipient's values, over the batch's `data`."},
    )


class BatchSendSchema(SendOptionsSchema, LaterSendFields):
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
        validate=validate.Length(min=1, max=10_000),
        metadata={"description": "Each with exactly one of openid, user_id, external_id or phone_number."},
    )


class ExternalIdSchema(Schema):
    """`PUT /api/v1/users/{user_id}/external-id`."""

    class Meta:
        unknown = RAISE

    external_id = fields.String(
        required=True,
        validate=EXTERNAL_ID,
        metadata={"description": "The business system's id for the person, unique per app.", "example": "EMP-00123"},
    )


class BindingCodeRequestSchema(ExternalIdSchema):
    """`POST /api/v1/binding-codes`."""

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
    external_id = fields.String(validate=EXTERNAL_ID)
    phone_number = phone_number_field()
    unionid = fields.String(validate=OPENID)

    @validates_schema
    def one_filter(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("give exactly one of openid, external_id, phone_number or unionid", "query")


class BatchSchema(Schema):
    """Dumps `{"batch": Batch, "counts": {...}}` as the API's `<batch>`."""

    id = fields.Function(lambda obj: obj["batch"].public_id, metadata={"type": "string"})
    appid = fields.Function(lambda obj: obj["batch"].app_id, metadata={"type": "string"})
    status = fields.Function(
        lambda obj: obj["batch"].status, metadata={"type": "string", "enum": ["queued", "running", "done"]}
    )
    template_id = fields.Function(lambda obj: obj["batch"].template_id, metadata={"type": "string"})
    total = fields.Function(lambda obj: obj["batch"].total, metadata={"type": "integer"})
    counts = fields.Function(
        lambda obj: obj["counts"],
        metadata={
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Messages per outcome (scheduled, queued, sending, sent, unknown, canceled, or a "
            "failed message's error code); they add up to total.",
        },
    )
    created_at = fields.Function(
        lambda obj: _iso(obj["batch"].created_at), metadata={"type": "string", "format": "date-time"}
    )
    finished_at = fields.Function(
        lambda obj: _iso(obj["batch"].finished_at),
        metadata={"type": "string", "format": "date-time", "nullable": True},
    )


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


# Documentation only: the bodies some views build as dicts, described for the OpenAPI document.


class LoginSchema(Schema):
    """`POST /api/v1/auth/login`'s answer."""

    token = fields.String(metadata={"description": "The session token: send it as `Authorization: Bearer <token>`."})
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "Seconds until the token expires."})
    user = fields.Nested(UserSchema)


class PhoneSchema(Schema):
    """`POST /api/v1/auth/phone`'s answer: the number WeChat gave, now stored on the user."""

    phone_number = fields.String(metadata={"description": "With the country code, e.g. +86 13800000000."})
    pure_phone_number = fields.String()
    country_code = fields.String()


class SubscriptionListSchema(Schema):
    subscriptions = fields.List(fields.Nested(SubscriptionSchema))


class MessageSentSchema(Schema):
    """`POST /api/v1/messages`'s answer."""

    id = fields.String(metadata={"description": "The message id, for `GET /api/v1/messages/{message_id}`."})
    appid = fields.String(metadata={"description": "The mini program the message is of."})
    status = fields.String(metadata={"enum": ["sent"]})
    template_id = fields.String()
    user_id = fields.Integer()
    remaining = fields.Integer(
        allow_none=True, metadata={"description": "Credits left for this template; null for long_term."}
    )
    wechat_msgid = fields.Integer(metadata={"description": "WeChat's msgid, when WeChat gave one."})


class BindingCodeSchema(Schema):
    """`POST /api/v1/binding-codes`'s answer."""

    code = fields.String(
        metadata={"description": "Show it to the person; it is never shown again.", "example": "7KQ2M9XD4HWP"}
    )
    expires_at = fields.String(metadata={"format": "date-time"})


class AccountSchema(Schema):
    """A user as business code sees it: dumps `{"user": User, "appid": str, "subscriptions": [...]}`."""

    id = fields.Function(lambda obj: obj["user"].id, metadata={"type": "integer"})
    appid = fields.Function(lambda obj: obj["appid"], metadata={"type": "string"})
    openid = fields.Function(lambda obj: obj["user"].openid, metadata={"type": "string"})
    unionid = fields.Function(lambda obj: obj["user"].unionid, metadata={"type": "string", "nullable": True})
    external_id = fields.Function(
        lambda obj: obj["user"].external_id,
        metadata={"type": "string", "nullable": True, "description": "null until bound."},
    )
    has_phone = fields.Function(
        lambda obj: bool(obj["user"].phone_e164),
        metadata={"type": "boolean", "description": "Whether a send by `phone_number` can find the user."},
    )
    subscriptions = fields.List(
        fields.Nested(SubscriptionSchema),
        metadata={"description": "Every template the user has answered, with the credits left."},
    )
    created_at = fields.Function(
        lambda obj: _iso(obj["user"].created_at), metadata={"type": "string", "format": "date-time"}
    )


class AccountListSchema(Schema):
    users = fields.List(fields.Nested(AccountSchema))


class MessagePageSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass back as `cursor` for the next page; null on the last page."}
    )


class BatchMessageSchema(Schema):
    id = fields.String()
    appid = fields.String()
    user_id = fields.Integer(allow_none=True, metadata={"description": "null when no user matched the recipient."})
    openid = fields.String(allow_none=True)
    outcome = fields.String(
        metadata={
            "description": "scheduled, queued, sending, sent, unknown or canceled, or for a failed message its "
            "error code."
        }
    )
    errcode = fields.Integer(allow_none=True)


class BatchMessagePageSchema(Schema):
    items = fields.List(fields.Nested(BatchMessageSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass back as `cursor` for the next page; null on the last page."}
    )


class HealthSchema(Schema):
    status = fields.String(
        metadata={"enum": ["ok", "degraded"], "description": "degraded: Redis is down, and the instance still serves."}
    )
    database = fields.String(
        metadata={"enum": ["ok"], "description": "A database that does not answer makes this 503 database_unavailable."}
    )
    redis = fields.String(
        metadata={
            "enum": ["ok", "down", "not_configured"],
            "description": "not_configured: no REDIS_URL (the token in the database, limits and delivery in-process).",
        }
    )


# --- device subscribe messages (docs/wechat.md §11) ------------------------------------


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


class SnTicketSchema(Schema):
    """`POST /api/v1/devices/sn-ticket`'s answer."""

    sn_ticket = fields.String(metadata={"description": "For `wx.requestSubscribeDeviceMessage`'s `snTicket`."})
    expires_in = fields.Integer(metadata={"description": "Seconds the ticket stays valid (at most 300)."})


def _model_id_field() -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=128), NO_NUL],
        metadata={"description": "The device type's model_id from device access (设备接入).", "example": "washer-1"},
    )


def _sn_field() -> fields.String:
    # getsnticket's rule for sn (docs/wechat.md §11a): at most 128 bytes of these characters.
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=128), validate.Regexp(r"^[0-9A-Za-z_-]+$", error="must be an sn")],
        metadata={"description": "The device's serial number (digits, letters, `_`, `-`).", "example": "SN-0001"},
    )


class DeviceSchema(Schema):
    """A device: its type's model_id and its serial number."""

    class Meta:
        unknown = RAISE

    model_id = _model_id_field()
    sn = _sn_field()


# wx.requestSubscribeDeviceMessage's answers: (choice, audio). acceptWithAudio is an accept
# with a voice reminder (docs/wechat.md §11b).
MAX_DEVICE_TEMPLATES = 3  # wx.requestSubscribeDeviceMessage's tmplIds (docs/wechat.md §11b)
DEVICE_REPORT_STATUSES = {
    "accept": ("accept", False),
    "acceptWithAudio": ("accept", True),
    "reject": ("reject", False),
    "ban": ("ban", False),
    "filter": ("filter", False),
}


class DeviceReportSchema(SubscriptionReportSchema):
    """`POST /api/v1/subscriptions` with `device`: what a device popup returned, for that device."""

    device = fields.Nested(DeviceSchema, required=True)

    statuses = DEVICE_REPORT_STATUSES  # {word: (choice, audio)}
    max_templates = MAX_DEVICE_TEMPLATES
    too_many = f"at most {MAX_DEVICE_TEMPLATES} templates per device popup"
    status_hint = "must be accept, acceptWithAudio, reject, ban or filter"


MAX_DEVICE_RECIPIENTS = 10_000


class DeviceRecipientSchema(Schema):
    class Meta:
        unknown = RAISE

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

    model_id = _model_id_field()
    sn = _sn_field()
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


class DeviceMessageItemSchema(Schema):
    """One recipient's device message in `POST /api/v1/device-messages`'s answer."""

    appid = fields.String(attribute="app_id")
    id = fields.String(
        attribute="public_id", metadata={"description": "The message id, for `GET /api/v1/messages/{message_id}`."}
    )
    user_id = fields.Integer()
    openid = fields.String()
    status = fields.Function(
        lambda message: "queued" if message.status == "sending" else message.status,
        metadata={"type": "string", "enum": ["queued", "sent", "failed", "unknown"]},
    )
    outcome = fields.String(
        allow_none=True,
        metadata={"description": "A failed message's error code: consent_revoked (43101), wechat_rejected, ..."},
    )
    errcode = fields.Integer(
        allow_none=True, metadata={"description": "WeChat's errcode (e.g. 9800006), when it refused."}
    )
    errmsg = fields.String(allow_none=True)


class SkippedSchema(Schema):
    user_id = fields.Integer(allow_none=True, metadata={"description": "null for an openid no user has."})
    openid = fields.String(allow_none=True)
    reason = fields.String(metadata={"enum": ["consent_required", "user_not_found"]})


class DeviceSendResultSchema(Schema):
    """`POST /api/v1/device-messages`'s answer (201: delivered now; 202: running as a batch)."""

    id = fields.String(metadata={"description": "The send's id: `GET /api/v1/batches/{batch_id}` follows it."})
    appid = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "done"]})
    messages = fields.List(
        fields.Nested(DeviceMessageItemSchema),
        metadata={"description": "One per recipient with an active subscription (201 only)."},
    )
    skipped = fields.List(fields.Nested(SkippedSchema), metadata={"description": "Recipients not sent to: no cost."})
    total = fields.Integer(metadata={"description": "Messages written (202)."})
    counts = fields.Dict(metadata={"description": "Messages per outcome, as `GET /api/v1/batches/{batch_id}` (202)."})
