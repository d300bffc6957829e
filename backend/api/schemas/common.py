"""What the schemas of several blueprints share: `load` and `dump`, the field rules, the
recipient, the send options and the device."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, post_load, validate, validates_schema

from backend.api.pagination import encode_cursor
from backend.errors import InvalidRequest
from backend.sending.single import DEFAULT_WAIT
from backend.settings import MINIPROGRAM_STATES
from backend.states import IfNoCredit
from backend.users.phones import to_e164

TEMPLATE_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be a WeChat template id")
OPENID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be an openid")
# Free text that is stored: PostgreSQL text can't hold NUL (a 500 there, accepted by SQLite).
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")
# users.id is a 32-bit INTEGER on PostgreSQL: a larger id can't exist, and looking it up
# there failed with "integer out of range" (a 500).
USER_ID = validate.Range(min=1, max=2**31 - 1)
# Characters that change how text shows without being seen: bidi controls (U+202E shows a
# name backwards), zero-width ones and the BOM. An id that holds one looks like another id.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def _printable_id(value: str) -> None:
    """An id people read and type: no control or invisible characters, no spaces around it."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError("must not contain control characters")
    if any(char in _INVISIBLE for char in value):
        raise ValidationError("must not contain bidi or zero-width characters")
    if value != value.strip():
        raise ValidationError("must not begin or end with spaces")


# The business system's own id for a person: any printable text (an employee number, a UUID),
# stored in Unicode NFC (ExternalId), so one id typed two ways is one id.
EXTERNAL_ID = [validate.Length(min=1, max=128), _printable_id]


class ExternalId(fields.String):
    """An external_id: NFC-normalised, then checked against EXTERNAL_ID."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=EXTERNAL_ID, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))


RECIPIENT_KINDS = ("openid", "user_id", "external_id", "phone_number")
ONE_RECIPIENT = (
    "The recipient is exactly one of `openid`, `user_id`, `external_id` or `phone_number` (docs/api.md, "
    "Recipients): none, or two of them, is 400 invalid_request naming `recipient`."
)
LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")
MAX_SCHEDULE_AHEAD = timedelta(days=365)  # docs/api.md: send_at at most one year ahead


# -- loading and dumping -----------------------------------------------------------------


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    # One instance per schema class: building one per request cost more than the validation.
    # Loading and dumping keep no state on the instance (marshmallow 4 has no schema context).
    return schema()


def load(schema: type[Schema], data: Any) -> Any:
    """Validate with `schema` or raise invalid_request with a reason per field."""
    try:
        return _instance(schema).load(data)
    except ValidationError as exc:
        raise InvalidRequest("The request failed validation.", _flatten(exc.messages)) from None


def dump(schema: type[Schema], obj: Any) -> Any:
    """`obj` as the JSON body `schema` describes."""
    return _instance(schema).dump(obj)


def _flatten(messages: Any) -> dict[str, Any]:
    if not isinstance(messages, dict):
        return {"body": messages}
    return {
        str(key): value[0] if isinstance(value, list) and len(value) == 1 else value for key, value in messages.items()
    }


class AnswerSchema(Schema):
    """A dumped body: every field of the schema is in it, except `sometimes_absent` ones when None.

    backend/api/openapi.py marks the other fields required in the document, so the document
    says exactly which keys an answer may lack.
    """

    sometimes_absent: ClassVar[tuple[str, ...]] = ()

    @post_dump
    def leave_out_absent(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name in self.sometimes_absent:
            if data.get(name) is None:
                data.pop(name, None)
        return data


# -- fields ------------------------------------------------------------------------------


_SEND_AT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?"
)


class SendAt(fields.Field):
    """ISO 8601 with a UTC offset (a time without one is ambiguous: refused), at most
    MAX_SCHEDULE_AHEAD ahead; a time in the past is kept, and means now."""

    ahead = MAX_SCHEDULE_AHEAD
    too_far = "must be at most one year ahead"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        # Strictly the one form the contract shows: fromisoformat alone takes a space for the T,
        # a NUL in the fraction's place, and offsets with seconds, which no other party reads alike.
        shape = _SEND_AT.fullmatch(value) if isinstance(value, str) else None
        try:
            moment = datetime.fromisoformat(value) if shape else None
        except ValueError:
            moment = None
        if moment is None:
            raise ValidationError(
                "must be an ISO 8601 date and time, e.g. 2026-12-24T09:00:00+08:00 (offset in hours and minutes)"
            )
        if shape["offset"] is None:
            raise ValidationError("must carry a UTC offset (Z or +08:00): a time without one is ambiguous")
        if moment - datetime.now(UTC) > self.ahead:
            raise ValidationError(self.too_far)
        return moment.astimezone(UTC)


MAX_WAIT = timedelta(days=30)


class WaitUntil(SendAt):
    """A held send's deadline: ISO 8601 with a UTC offset, in the future, at most 30 days ahead."""

    ahead = MAX_WAIT
    too_far = "must be at most 30 days ahead"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment <= datetime.now(UTC):
            raise ValidationError("must be in the future")
        return moment


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC; SQLite hands back naive datetimes for timezone-aware columns."""

    def __init__(self, **options: Any) -> None:
        super().__init__(format="iso", **options)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def next_cursor_field() -> fields.Function:
    """A page's `next_cursor`, from the id the next page starts after (backend/api/pagination.py)."""
    return fields.Function(
        lambda page: encode_cursor(page.last_id),
        allow_none=True,
        metadata={
            "type": "string",
            "description": "Pass back as `cursor` for the next page; null on the last page.",
        },
    )


def appid_field(description: str, **options: Any) -> fields.String:
    """An optional `appid` in a body: which of the configured mini programs the request is for."""
    return fields.String(validate=validate.Length(min=1, max=64), metadata={"description": description}, **options)


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


# -- the recipient and the send options ------------------------------------------------------


class RecipientFields(Schema):
    """A recipient: exactly one of openid, user_id, external_id, phone_number (docs/api.md, Recipients).

    Four optional fields, and the rule in `one_recipient`: the document says it in words, so a
    generated client gets one typed body whichever field names the recipient.
    """

    openid = fields.String(
        validate=OPENID, metadata={"description": "The recipient's openid (or one of the three other fields)."}
    )
    user_id = fields.Integer(
        strict=True,
        validate=USER_ID,
        metadata={"description": "The recipient's user id (or one of the three other fields)."},
    )
    external_id = ExternalId(
        metadata={
            "description": "The business system's id bound to the user (`PUT /api/v1/users/{user_id}/external-id`), "
            "or one of the three other fields."
        },
    )
    phone_number = phone_number_field()

    @validates_schema
    def one_recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(kind in data for kind in RECIPIENT_KINDS) != 1:
            raise ValidationError("give exactly one of openid, user_id, external_id or phone_number", "recipient")


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
    lang = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(LANGS),
        metadata={"description": "WeChat's `lang` for the message: the language of its link into the mini program."},
    )
    appid = appid_field(
        "The app to act for; required when the API key may act for several apps (403 forbidden for one it may "
        "not, 404 app_not_found for one not served here).",
        load_only=True,
    )
    truncate = fields.Boolean(
        load_default=False,
        metadata={"description": "Shorten over-long thing-style values (ending in …) instead of refusing them."},
    )


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


class HoldFields(Schema):
    """`if_no_credit` and `wait_until`, for single sends and batches (docs/api.md, held sends)."""

    if_no_credit = fields.String(
        load_default=IfNoCredit.FAIL,
        validate=validate.OneOf(list(IfNoCredit)),
        metadata={
            "description": "Without a credit: `fail` (409 consent_required, the default) or `wait`: the message is "
            "held as `awaiting_consent` (202) and sent with the user's next credit for the template, or fails as "
            "`wait_expired` at `wait_until`."
        },
    )
    wait_until = WaitUntil(
        load_default=None,
        metadata={
            "type": "string",
            "format": "date-time",
            "description": 'With `if_no_credit: "wait"`: how long a held message waits (ISO 8601 with a UTC '
            "offset, in the future, at most 30 days ahead; default 7 days).",
            "example": "2026-12-24T09:00:00+08:00",
        },
    )

    @validates_schema
    def wait_with_wait(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("wait_until") is not None and data.get("if_no_credit") != IfNoCredit.WAIT:
            raise ValidationError('only with "if_no_credit": "wait"', "wait_until")
        send_at = data.get("send_at")
        if data.get("wait_until") is not None and send_at is not None and data["wait_until"] <= send_at:
            raise ValidationError("must be after send_at", "wait_until")

    @post_load
    def default_wait(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("if_no_credit") == IfNoCredit.WAIT and data.get("wait_until") is None:
            data["wait_until"] = max(datetime.now(UTC), data.get("send_at") or datetime.now(UTC)) + DEFAULT_WAIT
        return data


# -- the device (docs/wechat.md §11) ------------------------------------------------------


def model_id_field() -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=128), NO_NUL],
        metadata={"description": "The device type's model_id from device access (设备接入).", "example": "washer-1"},
    )


def sn_field() -> fields.String:
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

    model_id = model_id_field()
    sn = sn_field()
