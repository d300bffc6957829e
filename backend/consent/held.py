"""Held sends (`if_no_credit: "wait"`, docs/api.md): messages waiting for the user's next credit.

A send without a credit may be held as `awaiting_consent` until its `wait_until`. A credit for
(user, template), from a report or a push, releases the oldest held message of that pair **in
the transaction that records the credit**: the message becomes `queued` with that credit spent
(`credit_reserved`, with the ledger's audit row), and the outbox delivers it like any queued
message (delivery/outbox.py): the claim takes no second credit, values are checked again, the
send waits for the user's turn (the 43108 rule). One credit, one released message, one call.
A long-term accept releases every held message of the pair: it allows them all.

The report path is the hot one, so it asks first whether anything is held in the app at all
(`anything_held`: one indexed EXISTS per app at most once a second per process, answered at
once in the process that held the message), and only then whether this user has a message held
for the templates accepted (`held_for`: one EXISTS on the held rows' partial index). A credit
recorded by a process whose answer was a moment stale is caught by `release_credited`, which
the due-scan runs every few seconds: a held message whose pair has a credit is released the
same way. Nothing held, nothing asked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from backend import errors, webhooks
from backend.consent import ledger
from backend.db import end_read, work
from backend.extensions import db
from backend.infra.app_flags import AppFlag
from backend.models import Message, Subscription, utcnow
from backend.states import MessageStatus, Outcome, SubscriptionStatus, TemplateKind

log = logging.getLogger(__name__)

_messages = Message.__table__
_subscriptions = Subscription.__table__
_HELD = _messages.c.status == MessageStatus.AWAITING_CONSENT
# How long a process trusts its own answer to "is anything held in this app?" (seconds).
FLAG_TTL = 1.0
RELEASE_BATCH = 500  # held messages looked at by one safety-net scan


def _anything_held(app_id: str) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists().where(_HELD, _messages.c.app_id == app_id))))


_flag = AppFlag(_anything_held, FLAG_TTL)


def anything_held(app_id: str) -> bool:
    """Whether the app may have held messages (stale by at most FLAG_TTL; see `release_credited`)."""
    return _flag.get(app_id)


_HELD_FOR = sa.select(
    sa.exists().where(
        _HELD,
        _messages.c.app_id == sa.bindparam("app_id"),
        _messages.c.user_id == sa.bindparam("user_id"),
        _messages.c.template_id.in_(sa.bindparam("template_ids", expanding=True)),
    )
)


def held_for(app_id: str, user_id: int, template_ids: list[str]) -> bool:
    """Whether this user has a message held for one of these templates: one indexed EXISTS on the
    partial index of held rows, asked (outside any unit of work) only while the app holds some.
    A report that finds none commits its grant alone, as if nothing were held anywhere."""
    found = bool(db.session.scalar(_HELD_FOR, {"app_id": app_id, "user_id": user_id, "template_ids": template_ids}))
    end_read()
    return found


def note_held(app_id: str) -> None:
    """This process just held a message of `app_id`: its next reports look for it at once."""
    _flag.set(app_id)


# -- releasing ------------------------------------------------------------------------------

_OLDEST = (
    sa.select(_messages.c.id)
    .where(
        _HELD,
        # Parameter names are not column names: SQLAlchemy keeps those for the SET clause.
        _messages.c.app_id == sa.bindparam("held_app"),
        _messages.c.user_id == sa.bindparam("held_user"),
        _messages.c.template_id == sa.bindparam("held_template"),
    )
    .order_by(_messages.c.id)
)


_RELEASE_OLDEST = (
    sa.update(_messages)
    .where(_messages.c.id == _OLDEST.limit(1).scalar_subquery(), _HELD)
    .values(status=MessageStatus.QUEUED, credit_reserved=True, updated_at=sa.bindparam("now"))
    .returning(_messages.c.id)
)
_RELEASE_ALL = (
    sa.update(_messages)
    .where(_messages.c.id.in_(_OLDEST), _HELD)
    .values(status=MessageStatus.QUEUED, credit_reserved=False, updated_at=sa.bindparam("now"))
    .returning(_messages.c.id)
)


def release(app_id: str, user_id: int, template_id: str, kind: str, now: datetime | None = None) -> list[int]:
    """Release what a credit of (user, template) allows, in the caller's transaction (the one that
    recorded the credit); the ids released, to hand to the queue once it committed (`enqueue`).

    One-time: the oldest held message, with one credit spent for it (none spent when none is
    held, or when the credit was taken meanwhile: then nothing is released). Long-term: every
    held message of the pair, spending nothing (the claim checks the answer is still accept).
    """
    now = now or utcnow()
    params = {"held_app": app_id, "held_user": user_id, "held_template": template_id, "now": now}
    if kind != TemplateKind.ONE_TIME:
        return sorted(db.session.scalars(_RELEASE_ALL, params))
    released = list(db.session.scalars(_RELEASE_OLDEST, params))
    if not released:
        return []
    # The credit is taken after the message is ours: a cancel or an expiry that won the row
    # left nothing to pay for. The grant of this transaction holds the subscription's row.
    if user_id not in ledger.current().spend(template_id, [user_id], now=now):
        db.session.execute(
            sa.update(_messages)
            .where(_messages.c.id.in_(released))
            .values(status=MessageStatus.AWAITING_CONSENT, credit_reserved=False)
        )
        return []
    return released


def release_granted(app_id: str, user_id: int, rows: Iterable[sa.Row]) -> list[int]:
    """After a grant (the ledger's rows, in its transaction): release what each accepted template allows."""
    released: list[int] = []
    for row in rows:
        if row.status != SubscriptionStatus.ACCEPT:
            continue
        if row.kind == TemplateKind.ONE_TIME and not row.remaining:
            continue  # a report under push authority: recorded, no credit
        released += release(app_id, user_id, row.template_id, row.kind)
    return released


def enqueue(ids: list[int]) -> None:
    """Hand released (committed, `queued`) messages to the queue. When it is down they stay
    `queued` and the sweep queues them after REQUEUE_AFTER: never lost."""
    if not ids:
        return
    try:
        current_app.extensions["queue"].enqueue(ids)
    except errors.ServiceUnavailable:
        log.warning("released messages not queued yet: Redis is down", extra={"count": len(ids)})
    except Exception:
        log.exception("released messages not queued yet", extra={"count": len(ids)})
        db.session.rollback()


# The safety net: held messages whose pair has a credit now (one-time) or an accept (long-term).
_CREDITED = (
    sa.select(_messages.c.app_id, _messages.c.user_id, _messages.c.template_id, _subscriptions.c.kind)
    .join(
        _subscriptions,
        sa.and_(
            _subscriptions.c.user_id == _messages.c.user_id,
            _subscriptions.c.template_id == _messages.c.template_id,
        ),
    )
    .where(
        _HELD,
        sa.or_(
            sa.and_(_subscriptions.c.kind == TemplateKind.ONE_TIME, _subscriptions.c.remaining > 0),
            sa.and_(
                _subscriptions.c.kind != TemplateKind.ONE_TIME, _subscriptions.c.status == SubscriptionStatus.ACCEPT
            ),
        ),
    )
    .distinct()
    .limit(RELEASE_BATCH)
)


_LOCK_SUBSCRIPTION = (
    sa.select(_subscriptions.c.id)
    .where(
        _subscriptions.c.user_id == sa.bindparam("user_id"),
        _subscriptions.c.template_id == sa.bindparam("template_id"),
    )
    .with_for_update()
)


def release_credited() -> list[int]:
    """Held messages whose (user, template) has a credit already (a report recorded by a process
    that did not know yet that something was held, a credit refunded): released now, one per
    credit, in one transaction per pair. The ids released (and queued)."""
    pairs = db.session.execute(_CREDITED).all()
    end_read()
    released: list[int] = []
    for app_id, user_id, template_id, kind in pairs:
        with work():
            # The subscription's row first, as a grant takes it before its release: two
            # transactions never hold one each of (subscription, held message) and wait.
            db.session.execute(_LOCK_SUBSCRIPTION, {"user_id": user_id, "template_id": template_id})
            ids = release(app_id, user_id, template_id, kind)
            if kind == TemplateKind.ONE_TIME:  # as many as the credits left allow
                more = ids
                while more:
                    more = release(app_id, user_id, template_id, kind)
                    ids += more
        released += ids
    enqueue(released)
    return released


# -- expiring -------------------------------------------------------------------------------


def expire_due(now: datetime | None = None) -> list[Message]:
    """Held messages past their wait_until become `failed` with outcome `wait_expired` (one
    conditional UPDATE, so a release and an expiry never both win), with `message.expired`;
    the messages expired (their batches may be done now)."""
    now = now or utcnow()
    due = db.session.scalars(
        sa.select(_messages.c.id).where(_HELD, _messages.c.wait_until <= now).limit(RELEASE_BATCH)
    ).all()
    if not due:
        end_read()
        return []
    with work():
        rows = db.session.execute(
            sa.update(_messages)
            .where(_messages.c.id.in_(due), _HELD)
            .values(status=MessageStatus.FAILED, outcome=Outcome.WAIT_EXPIRED, updated_at=now)
            .returning(*_messages.c)
        ).all()
        webhooks.emit_messages("message.expired", [row._mapping for row in rows])
    return [Message(**row._mapping) for row in rows]


# -- reading --------------------------------------------------------------------------------


def waiting_by_template(user_id: int) -> dict[str, int]:
    """The user's held messages, counted per template."""
    rows = db.session.execute(
        sa.select(_messages.c.template_id, sa.func.count())
        .where(_HELD, _messages.c.user_id == user_id)
        .group_by(_messages.c.template_id)
    ).all()
    return dict(rows)


def held_counts() -> dict[str, int]:
    """Held messages per app (the dashboard, /metrics)."""
    return dict(
        db.session.execute(
            sa.select(_messages.c.app_id, sa.func.count()).where(_HELD).group_by(_messages.c.app_id)
        ).all()
    )
