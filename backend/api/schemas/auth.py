"""`/api/v1/auth/*` and `/api/v1/me`: the mini program's log-in, and the user it gets back."""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, fields, validate

from backend.api.schemas.common import AnswerSchema, appid_field
from backend.models import User
from backend.users import personal


class CodeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "The code the mini program got from `wx.login` or the getPhoneNumber button."},
    )


class LoginRequestSchema(CodeSchema):
    """`POST /api/v1/auth/login`: the `wx.login` code and the app it came from."""

    appid = appid_field(
        "The mini program's AppID (`wx.getAccountInfoSync().miniProgram.appId`); required when several apps are "
        "configured (404 app_not_found for one this backend does not serve).",
        load_default=None,
    )


class UserSchema(AnswerSchema):
    id = fields.Integer()
    appid = fields.String(attribute="app_id", metadata={"description": "The mini program the user is of."})
    has_phone = fields.Function(lambda user: bool(user.phone_number), metadata={"type": "boolean"})


class MeSchema(UserSchema):
    phone_number = fields.Function(
        personal.phone_of, allow_none=True, metadata={"type": "string", "description": "null until the user shared it."}
    )
    external_id = fields.String(
        allow_none=True, metadata={"description": "The business system's id the user is linked to; null until bound."}
    )


@dataclass(frozen=True)
class Session:
    """A log-in's answer: the session token and the user it names."""

    token: str
    expires_in: int
    user: User


class LoginSchema(AnswerSchema):
    """`POST /api/v1/auth/login`'s answer."""

    token = fields.String(metadata={"description": "The session token: send it as `Authorization: Bearer <token>`."})
    token_type = fields.Constant("Bearer", metadata={"type": "string", "enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "Seconds until the token expires."})
    user = fields.Nested(UserSchema)


class PhoneSchema(AnswerSchema):
    """`POST /api/v1/auth/phone`'s answer: the number WeChat gave, now stored on the user."""

    phone_number = fields.Function(
        personal.phone_of, metadata={"type": "string", "description": "With the country code, e.g. +86 13800000000."}
    )
    pure_phone_number = fields.Function(personal.pure_phone_of, metadata={"type": "string"})
    country_code = fields.String()
