"""`/api/v1/apps/<appid>/quota`: WeChat's daily quota of subscribe/send for an app."""

from __future__ import annotations

from marshmallow import fields

from backend.api.schemas.common import AnswerSchema, UtcDateTime


class QuotaSchema(AnswerSchema):
    daily_limit = fields.Integer(allow_none=True, metadata={"description": "Sends WeChat allows the app per day."})
    used = fields.Integer(allow_none=True, metadata={"description": "Sends used today."})
    remain = fields.Integer(allow_none=True, metadata={"description": "Sends left today."})
    read_at = UtcDateTime(
        metadata={"description": "When WeChat was asked (at most every 10 minutes; older if WeChat failed since)."}
    )
