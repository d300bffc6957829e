"""Which templates the mini program should ask the user for now (`GET /api/v1/me/prompts`).

The backend knows who lacks which credit; the mini program shows one popup after a tap. So the
popup asks for what converts (docs/api.md, consent that converts):

1. templates with held messages (`awaiting_consent`), the oldest held first: one accept sends one;
2. then the app's `prompt_templates` (WX_APPS_FILE) or WX_PROMPT_TEMPLATES with no credit left
   (one-time: none left; long-term: not accepted), in the order listed;

at most MAX_PER_POPUP (WeChat's current limit per call, docs/wechat.md §5), one-time and
long-term never mixed (WeChat refuses that: 20002), the first template's kind deciding. A
template the user set to "always reject" (or that is banned) is left out: its popup answers
without asking. A user whose main switch is off gets none: the popup fails (20004).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from backend.apps import MiniProgram
from backend.consent import standing
from backend.extensions import db
from backend.models import Message, Subscription
from backend.states import MessageStatus, SubscriptionStatus, TemplateKind
from backend.templates.catalog import is_banned, look_up
from backend.templates.kinds import kind_of

MAX_PER_POPUP = 5
# "Always keep" answers that make a popup pointless: it answers them without showing.
_ANSWERED_WITHOUT_ASKING = ("reject", "ban")

_messages = Message.__table__


@dataclass(frozen=True)
class Prompt:
    template_id: str
    reason: str  # "waiting" (held messages) | "no_credit"
    waiting: int


@dataclass(frozen=True)
class Prompts:
    templates: list[Prompt]
    main_switch: bool | None


def prompts_for(mini_program: MiniProgram, user_id: int) -> Prompts:
    """The templates to ask `user_id` for now, as the module says."""
    main_switch, always = standing.settings_of(user_id)
    if main_switch is False:
        return Prompts([], False)
    held = db.session.execute(
        sa.select(_messages.c.template_id, sa.func.count())
        .where(_messages.c.status == MessageStatus.AWAITING_CONSENT, _messages.c.user_id == user_id)
        .group_by(_messages.c.template_id)
        .order_by(sa.func.min(_messages.c.id))
    ).all()
    subscriptions = {
        sub.template_id: sub
        for sub in db.session.scalars(sa.select(Subscription).where(Subscription.user_id == user_id))
    }
    candidates = [Prompt(template_id, "waiting", count) for template_id, count in held]
    candidates += [
        Prompt(template_id, "no_credit", 0)
        for template_id in mini_program.prompt_templates
        if not _has_credit(subscriptions.get(template_id))
    ]
    # Their kinds: the catalog's, with one gettemplate call at most for ids it lacks.
    known = look_up(mini_program, [prompt.template_id for prompt in candidates]) if candidates else {}
    chosen: list[Prompt] = []
    kind_chosen = None
    for prompt in candidates:
        if len(chosen) == MAX_PER_POPUP:
            break
        if any(p.template_id == prompt.template_id for p in chosen):
            continue  # held and listed: asked once, as held
        if always.get(prompt.template_id) in _ANSWERED_WITHOUT_ASKING or is_banned(
            mini_program.appid, prompt.template_id
        ):
            continue
        kind = kind_of(known.get(prompt.template_id), user_id=user_id, template_id=prompt.template_id)
        if kind == TemplateKind.DEVICE:
            continue  # asked with wx.requestSubscribeDeviceMessage, on a device's page
        if kind_chosen is None:
            kind_chosen = kind
        if kind == kind_chosen:
            chosen.append(prompt)
    return Prompts(chosen, main_switch)


def _has_credit(subscription: Subscription | None) -> bool:
    if subscription is None:
        return False
    if subscription.kind == TemplateKind.ONE_TIME:
        return subscription.remaining > 0
    return subscription.status == SubscriptionStatus.ACCEPT
