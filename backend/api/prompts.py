"""`/api/v1/me/subscription-settings` and `/api/v1/me/prompts`: the mini program reports what
wx.getSetting says, and asks which templates to put in the next popup (consent/standing.py,
consent/prompts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, g

from backend.api.guards import login_required
from backend.api.openapi import BEARER, doc
from backend.api.schemas.prompts import PromptsSchema, StandingSettingsSchema, SubscriptionSettingsSchema
from backend.consent import prompts, standing

bp = Blueprint("prompts", __name__, url_prefix="/api/v1")


@dataclass(frozen=True)
class StandingSettings:
    main_switch: bool | None
    always: dict[str, str]
    seen_at: datetime


@bp.post("/me/subscription-settings")
@login_required
@doc(200, StandingSettingsSchema, body=SubscriptionSettingsSchema, auth=BEARER)
def report_settings(body: dict):
    """Report `wx.getSetting({withSubscriptions: true})`'s `subscriptionsSetting`, as it came.

    Stored per user and template with the time seen. It never adds a credit: "always keep this
    choice" only hides the popup, each one-time message still needs an accept. With
    `mainSwitch: false` sends to the user are refused (409 `main_switch_off`, no WeChat call;
    held sends keep waiting) and `GET /api/v1/me/prompts` lists nothing.
    """
    seen_at = standing.record(g.mini_program.appid, g.user.id, body["mainSwitch"], body["itemSettings"])
    return StandingSettings(body["mainSwitch"], body["itemSettings"], seen_at)


@bp.get("/me/prompts")
@login_required
@doc(200, PromptsSchema, auth=BEARER)
def get_prompts():
    """The templates the subscribe button should ask for now.

    Those with held messages first (oldest first), then the app's `prompt_templates` without a
    credit, in their order; at most 5, never one-time and long-term together. None while the
    main switch is off."""
    return prompts.prompts_for(g.mini_program, g.user.id)
