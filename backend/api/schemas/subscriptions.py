"""`/api/v1/subscriptions`: what a subscribe popup returned, and the subscriptions it left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_dump,
    pre_load,
    validate,
    validates_schema,
)

from backend.api.schemas.common import NO_NUL, TEMPLATE_ID, AnswerSchema, DeviceSchema, UtcDateTime
from backend.states import SubscriptionStatus, TemplateKind

MAX_REPORT_TEMPLATES = 5  # WeChat's current limit for one popup (older clients: 3)
# Statuses wx.requestSubscribeMessage may give; the *With* variants are an accept with a reminder.
REPORT_STATUSES = {
    "accept": SubscriptionStatus.ACCEPT,
    "reject": SubscriptionStatus.REJECT,
    "ban": SubscriptionStatus.BAN,
    "filter": SubscriptionStatus.FILTER,
    "acceptWithAudio": SubscriptionStatus.ACCEPT,
    "acceptWithAlert": SubscriptionStatus.ACCEPT,
}
# wx.requestSubscribeDeviceMessage's answers: (choice, audio). acceptWithAudio is an accept
# with a voice reminder (docs/wechat.md §11b).
MAX_DEVICE_TEMPLATES = 3  # wx.requestSubscribeDeviceMessage's tmplIds (docs/wechat.md §11b)
DEVICE_REPORT_STATUSES = {
    "accept": (SubscriptionStatus.ACCEPT, False),
    "acceptWithAudio": (SubscriptionStatus.ACCEPT, True),
    "reject": (SubscriptionStatus.REJECT, False),
    "ban": (SubscriptionStatus.BAN, False),
    "filter": (SubscriptionStatus.FILTER, False),
}


@dataclass(frozen=True)
class Popup:
    """The rules of one kind of popup: what it may answer (its words → what is recorded), how
    many templates, and the hints its refusals give."""

    statuses: dict[str, Any]
    max_templates: int
    too_many: str
    status_hint: str


SUBSCRIBE_POPUP = Popup(
    REPORT_STATUSES,
    MAX_REPORT_TEMPLATES,
    f"at most {MAX_REPORT_TEMPLATES} templates per report",
    "must be accept, reject, ban or filter",
)
DEVICE_POPUP = Popup(
    DEVICE_REPORT_STATUSES,
    MAX_DEVICE_TEMPLATES,
    f"at most {MAX_DEVICE_TEMPLATES} templates per device popup",
    "must be accept, acceptWithAudio, reject, ban or filter",
)


class SubscriptionReportSchema(Schema):
    """`{"results": {"<template id>": "accept", ...}, "scene": "..."}`; results may be the raw
    success object of wx.requestSubscribeMessage, `errMsg` included. With `device`, a device
    popup's: its results are loaded as `(choice, audio)` and at most 3 templates."""

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
    # Present (and then not null) only in a device popup's report: its rules apply (DEVICE_POPUP).
    device = fields.Nested(
        DeviceSchema,
        metadata={
            "description": "For a device popup (wx.requestSubscribeDeviceMessage, at most 3 device templates): "
            "the device it was for. `acceptWithAudio` then records `audio: true`."
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

    @staticmethod
    def popup(data: dict[str, Any]) -> Popup:
        return DEVICE_POPUP if "device" in data else SUBSCRIBE_POPUP

    @validates_schema
    def check_results(self, data: dict[str, Any], **kwargs: Any) -> None:
        popup, results = self.popup(data), data["results"]
        if not results:
            raise ValidationError({"results": ["must name at least one template"]})
        if len(results) > popup.max_templates:
            raise ValidationError({"results": [popup.too_many]})
        problems = {}
        for template_id, status in results.items():
            try:
                TEMPLATE_ID(template_id)
            except ValidationError:
                problems[template_id] = "is not a template id"
                continue
            # A str check first: a list or object status is unhashable, and `in` raised TypeError (a 500).
            if not isinstance(status, str) or status not in popup.statuses:
                problems[template_id] = popup.status_hint
        if problems:
            raise ValidationError({"results": problems})

    @post_load
    def normalize(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        statuses = self.popup(data).statuses
        data["results"] = {tid: statuses[status] for tid, status in data["results"].items()}
        return data


class SubscriptionSchema(AnswerSchema):
    """A template the user answered: an ordinary subscription, or a device one (with `device`, `audio`)."""

    # An ordinary subscription has neither attribute: marshmallow leaves both out.
    sometimes_absent = ("device", "audio")

    template_id = fields.String()
    kind = fields.String(metadata={"enum": list(TemplateKind)})
    status = fields.String(metadata={"enum": list(SubscriptionStatus)})
    remaining = fields.Function(
        lambda sub: sub.remaining if sub.kind == TemplateKind.ONE_TIME else None,
        allow_none=True,
        metadata={"type": "integer", "description": "Send credits left; null for long_term."},
    )
    # The mini program's last report, which may be ahead of WeChat's push (see README).
    reported = fields.String(
        attribute="client_status",
        allow_none=True,
        metadata={"description": "The mini program's last report, which may be ahead of WeChat's push."},
    )
    device = fields.Nested(
        DeviceSchema,
        metadata={"description": "Device subscriptions only: the device the user subscribed on."},
    )
    audio = fields.Boolean(
        metadata={"description": "Device subscriptions only: accepted with a voice reminder (acceptWithAudio)."}
    )
    updated_at = UtcDateTime()


class SubscriptionListSchema(AnswerSchema):
    """Dumps a list of subscriptions as `{"subscriptions": [...]}`."""

    subscriptions = fields.List(fields.Nested(SubscriptionSchema))

    @pre_dump
    def wrap(self, subscriptions: list[Any], **kwargs: Any) -> dict[str, Any]:
        return {"subscriptions": subscriptions}
