"""The consent ledger: what users accepted, and how many one-time credits each accept left.

Rules (docs/api.md): each one-time `accept` adds a credit; `reject` records the choice
and keeps earlier credits; a long-term `accept` allows sends until revoked. When message
push is configured for the app (its Token), WeChat's signed pushes are the authority for credits and a
client report only records the choice, so a forged or repeated report mints nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from backend.apps import App
from backend.extensions import db
from backend.models import Subscription, Template, User, utcnow
from backend.services import idempotency, webhooks
from backend.services.ledger import add_credits, audit, ensure_subscription, zero_credits
from backend.services.templates import get_template, stored_template

CHOICES = ("accept", "reject", "ban", "filter")


def push_is_authority(app: App) -> bool:
    """Whether `app` has message push configured: then its signed pushes mint credits, not reports."""
    return bool(app.push_token)


def template_kind(app: App, template_id: str) -> str:
    """The template's kind; an unknown template is looked up at `app`'s WeChat first."""
    template = get_template(app, template_id)
    return template.kind if template else "one_time"


def _known_kind(template_id: str) -> str:
    """The kind the catalog knows, else one-time: for writes, which never call WeChat in their
    transaction (backend/transactions.py); a send looked its template up before it spent."""
    return catalog_kind(template_id) or "one_time"


def catalog_kind(template_id: str) -> str | None:
    """The template's kind as the local catalog knows it, None if WeChat never confirmed it.

    Never calls WeChat: pushes use it, and WeChat waits for their answer.
    """
    template = stored_template(template_id)
    return template.kind if template else None


def correct_kinds(templates: Iterable[Template]) -> int:
    """Subscriptions recorded as one-time before their template was known, set to its kind.

    A long-term template's `remaining` counts nothing, so a credit minted meanwhile is moot.
    """
    corrected = 0
    for template in templates:
        result = db.session.execute(
            sa.update(Subscription)
            .where(Subscription.template_id == template.id, Subscription.kind != template.kind)
            .values(kind=template.kind, updated_at=utcnow())
        )
        corrected += result.rowcount
    db.session.commit()
    return corrected


def apply_choice(
    user: User,
    template_id: str,
    choice: str,
    *,
    source: str,
    scene: str | None = None,
    mint: bool = True,
    dedupe_key: str | None = None,
    kind: str | None = None,
) -> Subscription:
    """Record one choice for one template; `mint=False` records it without moving credits.

    `kind`: the template's kind as the caller looked it up (else the catalog's, never WeChat's).
    """
    kind = kind or _known_kind(template_id)
    subscription = ensure_subscription(user.id, template_id, kind, choice)
    subscription.kind = kind
    delta = 0
    if source == "client":
        subscription.client_status = choice
        subscription.client_reported_at = utcnow()
    if mint:
        subscription.status = choice
        if choice == "accept" and kind == "one_time":
            delta = 1
            add_credits(subscription, delta)
    audit(user.id, template_id, source, choice, scene=scene, credits_delta=delta, dedupe_key=dedupe_key)
    if mint:  # the status (and credits) changed; a report under push authority only records the choice
        webhooks.emit_subscription(subscription, choice)
    return subscription


def record_report(
    app: App,
    user: User,
    results: dict[str, str],
    scene: str | None = None,
    key: idempotency.Claim | None = None,
) -> list[Subscription]:
    """One `wx.requestSubscribeMessage` result, reported by the mini program, in one transaction.

    `key`: the Idempotency-Key of the report, written in that transaction with the templates.
    """
    mint = not push_is_authority(app)
    # Unknown templates are looked up at WeChat first: no transaction stays open across that.
    kinds = {template_id: template_kind(app, template_id) for template_id in results}
    subscriptions = [
        apply_choice(user, template_id, choice, source="client", scene=scene, mint=mint, kind=kinds[template_id])
        for template_id, choice in results.items()
    ]
    idempotency.record_effect(key, {"templates": list(results)})
    db.session.commit()
    return subscriptions


def revoke(
    user: User,
    template_id: str,
    *,
    source: str,
    dedupe_key: str | None = None,
    detail: dict | None = None,
    kind: str | None = None,
) -> Subscription:
    """The user turned the template off (change event), or WeChat said 43101: credits to 0."""
    subscription = ensure_subscription(user.id, template_id, kind or _known_kind(template_id), "reject")
    dropped = zero_credits(subscription)
    subscription.status = "reject"
    audit(user.id, template_id, source, "revoked", credits_delta=-dropped, dedupe_key=dedupe_key, detail=detail)
    webhooks.emit_subscription(subscription, "revoked")
    return subscription


def list_subscriptions(user: User) -> list[Subscription]:
    return list(
        db.session.scalars(
            db.select(Subscription).where(Subscription.user_id == user.id).order_by(Subscription.template_id)
        )
    )
