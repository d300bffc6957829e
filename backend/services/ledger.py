"""Low-level ledger steps shared by reports, pushes and sends: rows that exist, atomic credit moves."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend import metrics
from backend.extensions import db
from backend.models import ConsentEvent, Subscription, User, utcnow


def upsertable_insert(model):
    """INSERT with ON CONFLICT support, for the two databases we run on."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def ensure_subscription(user_id: int, template_id: str, kind: str, status: str) -> Subscription:
    """The (user, template) row, created if missing; safe when two requests create it at once."""
    db.session.execute(
        upsertable_insert(Subscription)
        .values(
            user_id=user_id,
            template_id=template_id,
            kind=kind,
            status=status,
            remaining=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "template_id"])
    )
    return db.session.execute(
        sa.select(Subscription).where(Subscription.user_id == user_id, Subscription.template_id == template_id)
    ).scalar_one()


def ensure_user(openid: str, **fields) -> User:
    """The user with this openid, created if missing (logins and pushes race on new openids)."""
    db.session.execute(
        upsertable_insert(User)
        .values(openid=openid, token_version=0, created_at=utcnow(), updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["openid"])
    )
    user = db.session.execute(sa.select(User).where(User.openid == openid)).scalar_one()
    for name, value in fields.items():
        if value is not None:
            setattr(user, name, value)
    return user


def add_credits(subscription: Subscription, delta: int) -> None:
    """Move credits atomically in SQL (never read-modify-write); remaining never goes below 0."""
    db.session.execute(
        sa.update(Subscription)
        .where(Subscription.id == subscription.id)
        .values(remaining=_greatest(Subscription.remaining + delta, 0), updated_at=utcnow())
    )
    db.session.refresh(subscription)


def zero_credits(subscription: Subscription) -> int:
    """Set credits to 0 (43101, a change event); returns how many there were, for the audit."""
    before = subscription.remaining
    db.session.execute(
        sa.update(Subscription).where(Subscription.id == subscription.id).values(remaining=0, updated_at=utcnow())
    )
    db.session.refresh(subscription)
    return before


def _greatest(*args):
    # SQLite's two-argument max() is PostgreSQL's greatest().
    return (sa.func.max if db.session.get_bind().dialect.name == "sqlite" else sa.func.greatest)(*args)


def audit(
    user_id: int | None,
    template_id: str | None,
    source: str,
    result: str,
    *,
    scene: str | None = None,
    credits_delta: int = 0,
    dedupe_key: str | None = None,
    detail: dict | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        user_id=user_id,
        template_id=template_id,
        source=source,
        result=result,
        scene=scene,
        credits_delta=credits_delta,
        dedupe_key=dedupe_key,
        detail=detail,
    )
    db.session.add(event)
    if credits_delta:
        db.session.info.setdefault("credit_events", []).append((event, result, abs(credits_delta)))
    return event


_INSERT_EVENT = sa.insert(ConsentEvent.__table__)  # built once: see services/sending.py


def append_events(
    user_ids, template_id: str, source: str, result: str, *, credits_delta: int, detail: dict | None = None
) -> None:
    """The same audit row for each of these users, in one Core INSERT: the send path's audit
    (no savepoint, no dedupe key), one row for a send, a group's for a batch's claims."""
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "template_id": template_id,
            "source": source,
            "result": result,
            "scene": None,
            "credits_delta": credits_delta,
            "dedupe_key": None,
            "detail": detail,
            "created_at": now,
        }
        for user_id in user_ids
    ]
    if not rows:
        return
    db.session.execute(_INSERT_EVENT, rows if len(rows) > 1 else rows[0])
    if credits_delta:
        db.session.info.setdefault("credit_moves", []).append((result, abs(credits_delta) * len(rows)))


# Credit metrics count what was committed: an event rolled back with its savepoint (a push
# replay) or its transaction never reaches the counters.
CREDIT_CHANGES = {"accept": "granted", "spent": "spent", "refunded": "refunded", "revoked": "revoked"}


@sa.event.listens_for(Session, "after_commit")
def _count_committed_credits(session: Session) -> None:
    for event, result, amount in session.info.pop("credit_events", []):
        if sa.inspect(event).persistent:  # attributes are expired now: use what audit() saw
            metrics.record_credits(CREDIT_CHANGES.get(result, "other"), amount)
    for result, amount in session.info.pop("credit_moves", []):
        metrics.record_credits(CREDIT_CHANGES.get(result, "other"), amount)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back_credits(session: Session) -> None:
    session.info.pop("credit_events", None)
    session.info.pop("credit_moves", None)
