"""The consent ledger: what users accepted, and how many one-time credits each accept left.

Rules (docs/api.md): each one-time `accept` adds a credit; `reject` records the choice
and keeps earlier credits; a long-term `accept` allows sends until revoked. When message
push is configured for the app (its Token), WeChat's signed pushes are the authority for credits and a
client report only records the choice, so a forged or repeated report mints nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from backend import webhooks
from backend.apps import MiniProgram
from backend.consent import held, ledger
from backend.db import work
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Subscription, Template, User, utcnow
from backend.states import EventResult, EventSource, SubscriptionStatus
from backend.templates.catalog import get_template, stored_template
from backend.templates.kinds import kind_of

CHOICES = tuple(SubscriptionStatus)


def push_is_authority(mini_program: MiniProgram) -> bool:
    """Whether `mini_program` has message push configured: then its signed pushes mint credits, not reports."""
    return bool(mini_program.push_token)


def correct_kinds(app_id: str, templates: Iterable[Template]) -> int:
    """Subscriptions recorded as one-time before their template was known, set to its kind.

    A long-term template's `remaining` counts nothing, so a credit minted meanwhile is moot.
    """
    corrected = 0
    with work():
        for template in templates:
            result = db.session.execute(
                sa.update(Subscription)
                .where(
                    Subscription.app_id == app_id,
                    Subscription.template_id == template.id,
                    Subscription.kind != template.kind,
                )
                .values(kind=template.kind, updated_at=utcnow())
            )
            corrected += result.rowcount
    return corrected


def record_report(
    mini_program: MiniProgram,
    user: User,
    results: dict[str, str],
    scene: str | None = None,
    key: idempotency.Claim | None = None,
) -> list[sa.Row]:
    """One `wx.requestSubscribeMessage` result, reported by the mini program, in one short
    transaction: the answers with their credits and audit rows (one statement on PostgreSQL,
    two on SQLite), then the key's record.

    `key`: the Idempotency-Key of the report, written in that transaction with the templates.
    """
    # Unknown templates are looked up at WeChat first: no transaction stays open across that.
    choices = [
        ledger.Choice(template_id, kind_of(get_template(mini_program, template_id)), choice)
        for template_id, choice in results.items()
    ]
    mint = not push_is_authority(mini_program)
    # A credit minted here releases a held message in this transaction (consent/held.py); the
    # question is asked only for accepts, costs nothing while the app holds nothing, and one
    # indexed EXISTS for this user while it holds some.
    accepted = [c.template_id for c in choices if c.status == SubscriptionStatus.ACCEPT]
    releasing = (
        mint
        and bool(accepted)
        and held.anything_held(mini_program.appid)
        and held.held_for(mini_program.appid, user.id, accepted)
    )
    # Nothing else to write with it (no key, no webhook event, no release): a database may commit it alone.
    alone = key is None and not (mint and webhooks.enabled()) and not releasing
    with work():
        rows = ledger.current().grant(
            mini_program.appid, user.id, choices, source=EventSource.CLIENT, scene=scene, mint=mint, alone=alone
        )
        if mint:  # the status (and credits) changed; a report under push authority only records the choice
            for row in rows:
                webhooks.emit_subscription(row, row.status)
        released = held.release_granted(mini_program.appid, user.id, rows) if releasing else []
        idempotency.record_effect(key, {"templates": list(results)})
    held.enqueue(released)
    by_template = {row.template_id: row for row in rows}
    return [by_template[template_id] for template_id in results]


def revoke(
    app_id: str,
    user_id: int,
    template_id: str,
    *,
    source: str,
    dedupe_key: str | None = None,
    detail: dict | None = None,
    kind: str | None = None,
) -> None:
    """The user turned the template off (change event), or WeChat said 43101: credits to 0 (in the
    caller's unit of work)."""
    # The catalog's kind (never WeChat's: a write calls no WeChat inside its unit of work).
    kind = kind or kind_of(stored_template(app_id, template_id))
    ledger.current().zero(
        app_id, template_id, [user_id], kind=kind, source=source, dedupe_key=dedupe_key, detail=detail
    )
    webhooks.emit_subscription(
        webhooks.SubscriptionState(app_id, user_id, template_id, SubscriptionStatus.REJECT, kind, 0),
        EventResult.REVOKED,
    )


def list_subscriptions(user: User) -> list[Subscription]:
    return list(
        db.session.scalars(
            db.select(Subscription).where(Subscription.user_id == user.id).order_by(Subscription.template_id)
        )
    )
