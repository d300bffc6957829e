"""`/api/v1/me/subscription-settings` and `/api/v1/me/prompts`: the user's standing settings, and
the templates to ask for now."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from backend.api.schemas.common import TEMPLATE_ID, AnswerSchema, UtcDateTime
from backend.consent.standing import ITEM_SETTINGS

MAX_ITEM_SETTINGS = 200


class SubscriptionSettingsSchema(Schema):
    """`res.subscriptionsSetting` of `wx.getSetting({withSubscriptions: true})`, as it came."""

    class Meta:
        unknown = EXCLUDE  # WeChat may add keys to the object: the mini program sends it whole

    mainSwitch = fields.Boolean(  # noqa: N815 (WeChat's own name: the object is posted as it came)
        required=True,
        truthy={True},  # a JSON boolean only: "yes" or 1 is not what wx.getSetting returns
        falsy={False},
        metadata={"description": "false: the user switched every subscribe message of the mini program off."},
    )
    itemSettings = fields.Dict(  # noqa: N815
        keys=fields.String(validate=TEMPLATE_ID),
        values=fields.String(validate=validate.OneOf(ITEM_SETTINGS)),
        load_default=dict,
        metadata={
            "description": 'Template id (or `SYS_MSG_TYPE_*`) to the answer the user ticked "always keep" for: '
            f"{', '.join(ITEM_SETTINGS)}. Never a credit.",
            "example": {"tmpl-order-shipped": "accept"},
        },
    )

    @validates("itemSettings")
    def not_too_many(self, value: dict[str, Any], **kwargs: Any) -> None:
        if len(value) > MAX_ITEM_SETTINGS:
            raise ValidationError(f"at most {MAX_ITEM_SETTINGS} templates")


class StandingSettingsSchema(AnswerSchema):
    """What the backend stored of a wx.getSetting report."""

    main_switch = fields.Boolean(allow_none=True)
    always = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": 'The templates whose "always keep this choice" is ticked, with the kept answer.'},
    )
    seen_at = UtcDateTime()


class PromptSchema(AnswerSchema):
    template_id = fields.String()
    reason = fields.String(
        metadata={
            "enum": ["waiting", "no_credit"],
            "description": "`waiting`: messages are held for this template; `no_credit`: listed by the app, no credit.",
        }
    )
    waiting = fields.Integer(metadata={"description": "Held messages an accept would release (one per accept)."})


class PromptsSchema(AnswerSchema):
    """The templates to pass to `wx.requestSubscribeMessage` now (consent/prompts.py)."""

    templates = fields.List(
        fields.Nested(PromptSchema),
        metadata={"description": "At most 5, one kind (one-time or long-term); empty when the main switch is off."},
    )
    main_switch = fields.Boolean(
        allow_none=True,
        metadata={"description": "As last reported: false, send the user to the settings page instead (20004)."},
    )
