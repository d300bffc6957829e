"""marshmallow schemas: the HTTP boundary. `load` validates input, `dump` shapes output."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from backend.config import MINIPROGRAM_STATES
from backend.errors import InvalidRequest

TEMPLATE_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be a WeChat template id")
OPENID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be an openid")
# Free text that is stored: PostgreSQL text can't hold NUL (a 500 there, accepted by SQLite).
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")
# users.id is a 32-bit INTEGER on PostgreSQL: a larger id can't exist, and looking it up
# there failed with "integer out of range" (a 500).
USER_ID = validate.Range(min=1, max=2**31 - 1)
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


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC; SQLite hands back naive datetimes for timezone-aware columns."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def load(schema: Schema, data: Any) -> Any:
    """Validate with `schema` or raise invalid_request with a reason per field."""
    try:
        return schema.load(data)
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

    code = fields.String(required=True, validate=validate.Length(min=1, max=256))


class SubscriptionReportSchema(Schema):
    """`{"results": {"<template id>": "accept", ...}, "scene": "..."}`; results may be the raw
    success object of wx.requestSubscribeMessage, `errMsg` included."""

    class Meta:
        unknown = RAISE

    results = fields.Dict(required=True, keys=fields.String(), values=fields.Raw())
    scene = fields.String(load_default=None, validate=[validate.Length(max=64), NO_NUL], allow_none=True)

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

    @validates_schema
    def check_results(self, data: dict[str, Any], **kwargs: Any) -> None:
        results = data["results"]
        if not results:
            raise ValidationError({"results": ["must name at least one template"]})
        if len(results) > MAX_REPORT_TEMPLATES:
            raise ValidationError({"results": [f"at most {MAX_REPORT_TEMPLATES} templates per report"]})
        problems = {}
        for template_id, status in results.items():
            try:
                TEMPLATE_ID(template_id)
            except ValidationError:
                problems[template_id] = "is not a template id"
                continue
            # A str check first: a list or object status is unhashable, and `in` raised TypeError (a 500).
            if not isinstance(status, str) or status not in REPORT_STATUSES:
                problems[template_id] = "must be accept, reject, ban or filter"
        if problems:
            raise ValidationError({"results": problems})

    @post_load
    def normalize(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["results"] = {tid: REPORT_STATUSES[status] for tid, status in data["results"].items()}
        return data


class SendOptionsSchema(Schema):
    """The options a single send and a batch share."""

    class Meta:
        unknown = RAISE

    template_id = fields.String(required=True, validate=TEMPLATE_ID)
    data = fields.Raw(required=True)  # checked against the template's keyword rules, 422
    page = fields.String(load_default=None, allow_none=True, validate=[validate.Length(min=1, max=512), NO_NUL])
    miniprogram_state = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(MINIPROGRAM_STATES))
    lang = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGS))
    truncate = fields.Boolean(load_default=False)


class SendSchema(SendOptionsSchema):
    """`POST /api/v1/messages`: a recipient by openid or user_id, plus the send options."""

    openid = fields.String(validate=OPENID)
    user_id = fields.Integer(strict=True, validate=USER_ID)

    @validates_schema
    def one_recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("openid" in data) == ("user_id" in data):
            raise ValidationError("give exactly one of openid or user_id", "openid")


class UserSchema(Schema):
    id = fields.Integer()
    has_phone = fields.Function(lambda user: bool(user.phone_number))


class MeSchema(UserSchema):
    phone_number = fields.String()


class SubscriptionSchema(Schema):
    template_id = fields.String()
    kind = fields.String()
    status = fields.String()
    remaining = fields.Function(lambda sub: sub.remaining if sub.kind == "one_time" else None)
    # The mini program's last report, which may be ahead of WeChat's push (see README).
    reported = fields.String(attribute="client_status")
    updated_at = UtcDateTime(format="iso")


class MessageSchema(Schema):
    id = fields.String(attribute="public_id")
    status = fields.Function(lambda message: "queued" if message.status == "sending" else message.status)
    outcome = fields.String()
    template_id = fields.String()
    user_id = fields.Integer()
    errcode = fields.Integer()
    errmsg = fields.String()
    wechat_msgid = fields.Integer()
    delivery_status = fields.String()
    created_at = UtcDateTime(format="iso")
    sent_at = UtcDateTime(format="iso")
    updated_at = UtcDateTime(format="iso")


class RecipientSchema(Schema):
    class Meta:
        unknown = RAISE

    openid = fields.String(validate=OPENID)
    user_id = fields.Integer(strict=True, validate=USER_ID)
    data = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)

    @validates_schema
    def one_recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("openid" in data) == ("user_id" in data):
            raise ValidationError("give exactly one of openid or user_id", "openid")


class BatchSendSchema(SendOptionsSchema):
    """`POST /api/v1/batches`: the send options and up to 10,000 recipients."""

    data = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    recipients = fields.List(fields.Nested(RecipientSchema), required=True, validate=validate.Length(min=1, max=10_000))


class BatchSchema(Schema):
    """Dumps `{"batch": Batch, "counts": {...}}` as the API's `<batch>`."""

    id = fields.Function(lambda obj: obj["batch"].public_id)
    status = fields.Function(lambda obj: obj["batch"].status)
    template_id = fields.Function(lambda obj: obj["batch"].template_id)
    total = fields.Function(lambda obj: obj["batch"].total)
    counts = fields.Function(lambda obj: obj["counts"])
    created_at = fields.Function(lambda obj: _iso(obj["batch"].created_at))
    finished_at = fields.Function(lambda obj: _iso(obj["batch"].finished_at))


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
