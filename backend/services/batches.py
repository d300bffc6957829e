"""Batch sends: one template to many users, delivered by workers from the outbox.

The `Message` rows are the outbox. Creating a batch validates every recipient's values up
front and writes one row per recipient; the queue carries only message ids. A worker
claims a message by a conditional status change (queued → sending) together with its
credit, so two workers never deliver it twice and one credit is one WeChat call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import make_transient_to_detached

from backend import errors, metrics
from backend.extensions import db
from backend.models import Batch, Message, User, new_public_id, utcnow
from backend.services import idempotency, ledger, pace
from backend.services.sending import DeliveryDeferred, deliver, reported_kind
from backend.services.templates import get_template, refuse_if_banned, stored_template
from backend.services.validation import validate_data
from backend.states import TemplateKind

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000
FINAL_OUTCOMES = ("sent", "unknown")  # with the failure codes
OPEN_STATUSES = ("queued", "sending")


@dataclass
class BatchRequest:
    template_id: str
    data: dict[str, Any]
    recipients: list[dict[str, Any]]
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None
    truncate: bool = False


def outcome(message: Message) -> str:
    """queued, sending, sent, unknown, or the error code of a failed message."""
    return message.shown_outcome


def create_batch(request: BatchRequest, key: idempotency.Claim | None = None) -> Batch:
    """Validate every recipient's values, write the batch and its messages, and queue them.

    `key`: the Idempotency-Key the request holds; the batch is written with it.
    """
    template = get_template(request.template_id)
    refuse_if_banned(request.template_id)
    shared = request.data if isinstance(request.data, dict) else {}
    values, problems = [], {}
    for index, recipient in enumerate(request.recipients):
        try:
            values.append(
                validate_data(template, {**shared, **(recipient.get("data") or {})}, truncate=request.truncate)
            )
        except errors.InvalidTemplateData as exc:
            problems.update({f"recipients.{index}.{key}": reason for key, reason in exc.details.items()})
    if problems:
        raise errors.InvalidTemplateData("Template data breaks WeChat's rules; nothing was queued.", problems)

    users = _resolve(request.recipients)
    batch = Batch(template_id=request.template_id, total=len(request.recipients))
    db.session.add(batch)
    db.session.flush()
    now = utcnow()
    rows = []
    for recipient, data in zip(request.recipients, values, strict=True):
        user = users.get(("openid", recipient.get("openid"))) or users.get(("user_id", recipient.get("user_id")))
        rows.append(
            {
                "public_id": new_public_id("msg"),
                "batch_id": batch.id,
                "template_id": request.template_id,
                "user_id": user.id if user else None,
                "openid": user.openid if user else recipient.get("openid"),
                "data": data,
                "page": request.page,
                "lang": request.lang or "zh_CN",
                "miniprogram_state": request.miniprogram_state or current_app.config["WX_MINIPROGRAM_STATE"],
                "status": "queued" if user else "failed",
                "outcome": None if user else "user_not_found",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(sa.insert(Message), rows)
    idempotency.record_effect(key, {"batch": batch.public_id})
    db.session.commit()
    # Committed: from here on the answer is the batch. Its rows are the outbox, so messages
    # that could not be queued now are queued by the sweeper (REQUEUE_AFTER) instead.
    try:
        enqueue_batch(batch.id)
    except errors.ServiceUnavailable:
        log.warning("batch not queued yet: Redis is down", extra={"batch_id": batch.public_id})
    except Exception:
        log.exception("batch not queued yet", extra={"batch_id": batch.public_id})
        db.session.rollback()
    return batch


def _resolve(recipients: list[dict[str, Any]]) -> dict[tuple[str, Any], User]:
    openids = {r["openid"] for r in recipients if r.get("openid")}
    user_ids = {r["user_id"] for r in recipients if r.get("user_id") is not None}
    found: dict[tuple[str, Any], User] = {}
    for chunk in _chunks(sorted(openids), 500):
        for user in db.session.scalars(sa.select(User).where(User.openid.in_(chunk))):
            found[("openid", user.openid)] = user
    for chunk in _chunks(sorted(user_ids), 500):
        for user in db.session.scalars(sa.select(User).where(User.id.in_(chunk))):
            found[("user_id", user.id)] = user
    return found


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def enqueue_batch(batch_id: int) -> None:
    ids = db.session.scalars(
        sa.select(Message.id).where(Message.batch_id == batch_id, Message.status == "queued").order_by(Message.id)
    ).all()
    current_app.extensions["dispatcher"].enqueue(list(ids))


# -- delivery (in a worker) ---------------------------------------------------------


_messages = Message.__table__
# Built once (see services/sending.py): a worker runs them for every group of messages.
_CLAIM = (
    sa.update(_messages)
    .where(_messages.c.id.in_(sa.bindparam("ids", expanding=True)), _messages.c.status == "queued")
    .values(status="sending", claimed_at=sa.bindparam("now"), updated_at=sa.bindparam("now"))
    .returning(*_messages.c)
)
_FAIL_WITHOUT_CONSENT = (
    sa.update(_messages)
    .where(_messages.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status="failed", outcome="consent_required", updated_at=sa.bindparam("now"))
)
_MARK_RUNNING = (
    sa.update(Batch.__table__)
    .where(Batch.__table__.c.id.in_(sa.bindparam("ids", expanding=True)), Batch.__table__.c.status == "queued")
    .values(status="running")
)


def claim_group(message_ids: list[int]) -> tuple[list[Message], list[int]]:
    """queued → sending for these messages, each with its credit, in one transaction.

    Returns the messages to deliver (detached, as the claim left them) and the ids of the
    batches the claimed messages belong to (to check for done afterwards). Messages already
    claimed elsewhere are skipped; those without a credit fail as `consent_required` here and
    WeChat is not called. A few statements per group instead of several per message.
    """
    now = utcnow()
    # Ids and users in ascending order, so that two workers whose groups overlap (a sweep's
    # requeue) lock the same rows in the same order instead of deadlocking.
    rows = db.session.execute(_CLAIM, {"ids": sorted(message_ids), "now": now}).all()
    claimed = sorted((Message(**row._mapping) for row in rows), key=lambda message: message.id)
    credited = _spend_credits(claimed, now)
    refused = [message for message in claimed if message.id not in credited]
    if refused:
        db.session.execute(_FAIL_WITHOUT_CONSENT, {"ids": [m.id for m in refused], "now": now})
    batch_ids = sorted({message.batch_id for message in claimed if message.batch_id is not None})
    if batch_ids:
        db.session.execute(_MARK_RUNNING, {"ids": batch_ids})
    db.session.commit()
    for _ in refused:
        metrics.record_send("consent_required", None)
    ready = [message for message in claimed if message.id in credited]
    for message in ready:
        make_transient_to_detached(message)
    return ready, batch_ids


def _spend_credits(messages: list[Message], now) -> set[int]:
    """Take one credit per message (in the current transaction); the ids of those that got one.

    Set-based: one ledger statement per template for the users' first messages in this group,
    another for the second ones, and so on (one UPDATE can't take two credits of one user).
    """
    # Per template and kind, rounds of {user: message}: each user's first message, then the second...
    rounds: dict[tuple[str, str], list[dict[int, Message]]] = {}
    for message in messages:
        # The template was looked up when the batch was made: read it, never call WeChat here.
        template = stored_template(message.template_id)
        kind = template.kind if template else reported_kind(message.user_id, message.template_id)
        template_rounds = rounds.setdefault((message.template_id, kind), [])
        next_round = next((round_ for round_ in template_rounds if message.user_id not in round_), None)
        if next_round is None:
            next_round = {}
            template_rounds.append(next_round)
        next_round[message.user_id] = message
    credits = ledger.current()
    credited: set[int] = set()
    for (template_id, kind), template_rounds in rounds.items():
        for by_user in template_rounds:
            if kind == TemplateKind.ONE_TIME:
                allowed = credits.spend(template_id, by_user, now=now)
            else:  # long-term: nothing moves while the user's answer is accept
                allowed = credits.accepted(template_id, by_user)
            credited.update(by_user[user_id].id for user_id in allowed)
    return credited


def claim(message_id: int) -> Message | None:
    """Claim one message with its credit (see claim_group); None if not ours to send."""
    ready, _ = claim_group([message_id])
    return ready[0] if ready else None


def deliver_claimed(message: Message) -> bool:
    """Deliver a claimed message; False when it was deferred (quota, busy) for a later try."""
    pace.acquire()
    try:
        deliver(message, requeue_transient=True)
    except DeliveryDeferred:
        pace.back_off()
        return False
    except errors.ApiError:
        pass  # settled: failed or unknown, recorded on the message
    return True


def deliver_one(message_id: int) -> bool:
    """Claim and deliver one message; False when it was deferred (quota, busy) for a later try."""
    message = claim(message_id)
    if message is None:  # someone else's, already settled, or no consent
        batch_id = db.session.scalar(sa.select(Message.batch_id).where(Message.id == message_id))
        delivered = True
    else:
        batch_id = message.batch_id
        delivered = deliver_claimed(message)
    if delivered:
        finish_batch_if_done(batch_id)
    return delivered


def finish_batch_if_done(batch_id: int | None) -> None:
    """Mark the batch done once none of its messages is queued or sending."""
    if batch_id is None:
        return
    # EXISTS stops at the first open message; a COUNT per delivery made a batch quadratic.
    still_open = sa.exists().where(Message.batch_id == batch_id, Message.status.in_(OPEN_STATUSES))
    db.session.execute(
        sa.update(Batch)
        .where(Batch.id == batch_id, Batch.status != "done", ~still_open)
        .values(status="done", finished_at=utcnow(), updated_at=utcnow())
    )
    db.session.commit()


# -- recovery ---------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Recover from lost jobs and killed workers.

    - `sending` for longer than SENDING_TIMEOUT: the worker died mid-call, so WeChat may or
      may not have it: `unknown`, credit kept spent (at most one call per credit).
    - `queued` untouched for REQUEUE_AFTER: its job was lost: queued again.
    """
    config = current_app.config
    now = utcnow()
    orphaned = give_up_abandoned_sends(now)
    stale_queued = now - timedelta(seconds=config["REQUEUE_AFTER"])
    lost = db.session.scalars(
        sa.select(Message.id).where(
            Message.status == "queued", Message.batch_id.is_not(None), Message.updated_at < stale_queued
        )
    ).all()
    batches = db.session.scalars(sa.select(Batch.id).where(Batch.status != "done")).all()
    db.session.commit()
    if lost and not _requeue(list(lost), now):
        lost = []  # Redis is down: still `queued` and stale, so the next sweep tries again
    for batch_id in batches:
        finish_batch_if_done(batch_id)
    if orphaned or lost:
        log.warning("sweep recovered messages", extra={"unknown": len(orphaned), "requeued": len(lost)})
    return {"unknown": len(orphaned), "requeued": len(lost)}


def _requeue(ids: list[int], now) -> bool:
    """Queue these messages again and mark them touched; False when the queue is down."""
    try:
        current_app.extensions["dispatcher"].enqueue(ids)
    except errors.ServiceUnavailable:
        return False
    # Touched after queueing: a message queued twice is claimed once, one never queued is lost.
    db.session.execute(sa.update(Message).where(Message.id.in_(ids), Message.status == "queued").values(updated_at=now))
    db.session.commit()
    return True


def give_up_abandoned_sends(now, message_id: int | None = None) -> list[int]:
    """`sending` for longer than SENDING_TIMEOUT (all such messages, or just this one) becomes
    `unknown`, in the current transaction; the ids changed."""
    stale_sending = now - timedelta(seconds=current_app.config["SENDING_TIMEOUT"])
    query = sa.select(Message.id).where(Message.status == "sending", Message.claimed_at < stale_sending)
    if message_id is not None:
        query = query.where(Message.id == message_id)
    orphaned = db.session.scalars(query).all()
    if orphaned:
        db.session.execute(
            sa.update(Message)
            .where(Message.id.in_(orphaned), Message.status == "sending")
            .values(status="unknown", outcome="unknown", updated_at=now)
        )
    return list(orphaned)


def send_left_by(public_id: str) -> Message | None:
    """The message a send's request reserved, read after that request is gone: one still
    `sending` after SENDING_TIMEOUT is given up as `unknown` now (the sweeper's rule)."""
    message_id = db.session.scalar(sa.select(Message.id).where(Message.public_id == public_id))
    if message_id is None:
        return None
    if give_up_abandoned_sends(utcnow(), message_id):
        db.session.commit()
    return db.session.get(Message, message_id, populate_existing=True)


# -- reading ------------------------------------------------------------------------


def batch_counts(batch_id: int) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Message.status, Message.outcome, sa.func.count())
        .where(Message.batch_id == batch_id)
        .group_by(Message.status, Message.outcome)
    ).all()
    counts: dict[str, int] = {}
    for status, failure, count in rows:
        key = failure if status == "failed" else status
        counts[key] = counts.get(key, 0) + count
    return counts
