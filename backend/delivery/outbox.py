"""Delivering queued messages: claims, deferral and retries, finishing batches, the sweep.

`sending/single.py` sends one message (validate, reserve, call, settle); this module decides
which messages a worker sends, and when again. The queue (`backend/delivery/queue.py`: RQ jobs, or
threads in the web process without Redis) carries only ids, and on both paths it calls
`deliver_ids`: one claim code, whichever way a message travelled.

A worker claims a message by a conditional status change (queued → sending) together with its
credit, so two workers never deliver it twice and one credit is one WeChat call. The `Message`
rows are the outbox: whatever a lost job or a killed worker leaves, the sweep recovers.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import make_transient_to_detached

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.consent import held, ledger, standing
from backend.db import work
from backend.extensions import db
from backend.models import Batch, Message, utcnow
from backend.ops import metrics
from backend.sending import device_delivery, pace
from backend.sending.batches import batch_counts
from backend.sending.later import as_utc
from backend.sending.single import DeliveryDeferred, deliver
from backend.states import OPEN_STATUSES, BatchStatus, MessageStatus, Outcome, TemplateKind
from backend.templates.catalog import stored_template
from backend.templates.kinds import kind_of

log = logging.getLogger(__name__)

_messages = Message.__table__
# Built once (see sending/single.py): a worker runs them for every group of messages.
_CLAIM = (
    sa.update(_messages)
    .where(_messages.c.id.in_(sa.bindparam("ids", expanding=True)), _messages.c.status == MessageStatus.QUEUED)
    .values(status=MessageStatus.SENDING, claimed_at=sa.bindparam("now"), updated_at=sa.bindparam("now"))
    .returning(*_messages.c)
)
_FAIL_WITHOUT_CONSENT = (
    sa.update(_messages)
    .where(_messages.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status=MessageStatus.FAILED, outcome=sa.bindparam("outcome"), updated_at=sa.bindparam("now"))
)
# A message that may wait (`if_no_credit: "wait"`) and found no credit at its claim is held
# instead of failed (consent/held.py): a batch recipient, an asynchronous or a scheduled send.
_HOLD = (
    sa.update(_messages)
    .where(_messages.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status=MessageStatus.AWAITING_CONSENT, claimed_at=None, updated_at=sa.bindparam("now"))
)
# The credit a release spent was this claim's: the next claim (after a deferral gave it back) pays.
_RESERVED_TAKEN = (
    sa.update(_messages).where(_messages.c.id.in_(sa.bindparam("ids", expanding=True))).values(credit_reserved=False)
)
_MARK_RUNNING = (
    sa.update(Batch.__table__)
    .where(
        Batch.__table__.c.id.in_(sa.bindparam("ids", expanding=True)), Batch.__table__.c.status == BatchStatus.QUEUED
    )
    .values(status=BatchStatus.RUNNING)
)


def claim_group(message_ids: list[int]) -> tuple[list[Message], list[int]]:
    """queued → sending for these messages, each with its credit, in one transaction.

    Returns the messages to deliver (detached, as the claim left them) and the ids of the
    batches the claimed messages belong to (to check for done afterwards). Messages already
    claimed elsewhere are skipped; those without a credit fail as `consent_required` here and
    WeChat is not called, and so do those to a user whose main switch is off (`main_switch_off`:
    WeChat would answer 43101, which zeroes the user's credits). A message sent with
    `if_no_credit: "wait"` is held instead of failed. A few statements per group instead of
    several per message.
    """
    now = utcnow()
    # Asked before the unit (a cached read that ends): can any recipient have switched off?
    switch_matters = standing.anyone_switched_off(sorted(current_app.extensions["apps"].appids()))
    with work():
        # Ids and users in ascending order, so that two workers whose groups overlap (a sweep's
        # requeue) lock the same rows in the same order instead of deadlocking.
        rows = db.session.execute(_CLAIM, {"ids": sorted(message_ids), "now": now}).all()
        claimed = sorted((Message(**row._mapping) for row in rows), key=lambda message: message.id)
        devices = [message for message in claimed if device_delivery.is_device_message(message)]
        ordinary = [message for message in claimed if not device_delivery.is_device_message(message)]
        # A released held message comes with its credit spent already (consent/held.py).
        reserved = {message.id for message in ordinary if message.credit_reserved}
        if reserved:
            db.session.execute(_RESERVED_TAKEN, {"ids": sorted(reserved)})
        unpaid = [message for message in ordinary if message.id not in reserved]
        off = standing.switched_off_among(sorted({m.user_id for m in unpaid})) if switch_matters else set()
        switched = {message.id for message in unpaid if message.user_id in off}
        unpaid = [message for message in unpaid if message.id not in switched]
        # A device message spends no credit: its recipient's device subscription must still be active.
        credited = reserved | _spend_credits(unpaid, now) | device_delivery.subscribed(devices, db.session)
        uncredited = [message for message in claimed if message.id not in credited]
        waiting = [message for message in uncredited if _may_wait(message, now)]
        refused = [m for m in uncredited if not _may_wait(m, now) and m.id not in switched]
        switched_off = [m for m in uncredited if not _may_wait(m, now) and m.id in switched]
        if waiting:
            db.session.execute(_HOLD, {"ids": [m.id for m in waiting], "now": now})
        for failures, outcome in ((refused, Outcome.CONSENT_REQUIRED), (switched_off, Outcome.MAIN_SWITCH_OFF)):
            if failures:
                fail = {"ids": [m.id for m in failures], "now": now, "outcome": outcome}
                db.session.execute(_FAIL_WITHOUT_CONSENT, fail)
                webhooks.emit_messages("message.failed", failures, status=MessageStatus.FAILED, outcome=outcome)
        batch_ids = sorted({message.batch_id for message in claimed if message.batch_id is not None})
        if batch_ids:
            db.session.execute(_MARK_RUNNING, {"ids": batch_ids})
    for message in refused:
        metrics.record_send(message.app_id, Outcome.CONSENT_REQUIRED, None)
    for message in switched_off:
        metrics.record_send(message.app_id, Outcome.MAIN_SWITCH_OFF, None)
    for app_id in {message.app_id for message in waiting}:
        held.note_held(app_id)
    ready = [message for message in claimed if message.id in credited]
    for message in ready:
        make_transient_to_detached(message)
    return ready, batch_ids


def _may_wait(message: Message, now) -> bool:
    """A message sent with `if_no_credit: "wait"` whose wait_until is still ahead."""
    return message.wait_until is not None and as_utc(message.wait_until) > now


def _spend_credits(messages: list[Message], now) -> set[int]:
    """Take one credit per message (in the current transaction); the ids of those that got one.

    Set-based: one ledger statement per template for the users' first messages in this group,
    another for the second ones, and so on (one UPDATE can't take two credits of one user).
    """
    # Per template and kind, rounds of {user: message}: each user's first message, then the second...
    rounds: dict[tuple[str, str], list[dict[int, Message]]] = {}
    for message in messages:
        # The template was looked up when the batch was made: read it, never call WeChat here.
        template = stored_template(message.app_id, message.template_id)
        kind = kind_of(template, user_id=message.user_id, template_id=message.template_id)
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


def deliver_ids(app: Flask, ids: list[int], pool: Executor) -> None:
    """Deliver these messages: claimed WORKER_THREADS at a time, each group sent in parallel on
    `pool` (as many threads), finished batches marked done.

    A message deferred by a passing failure (quota, busy: `queued` again, its credit back) is
    claimed again after the back-off, until it is settled; each deferral counts an attempt
    (sending.MAX_ATTEMPTS), which bounds the loop. Messages claimed elsewhere are skipped.
    A failure (the database down) is logged and raised: what was not claimed stays `queued`,
    and the sweep queues it again.
    """
    size = app.config["WORKER_THREADS"]
    for start in range(0, len(ids), size):
        pending = group = ids[start : start + size]
        try:
            while pending:
                with app.app_context():
                    claimed, batch_ids = claim_group(pending)
                delivered = list(pool.map(lambda message: _deliver_in_context(app, message), claimed))
                pending = [message.id for message, done in zip(claimed, delivered, strict=True) if not done]
                with app.app_context():
                    for batch_id in batch_ids:
                        finish_batch_if_done(batch_id)
        except Exception:
            log.exception("delivery failed", extra={"message_ids": group})
            raise


def _deliver_in_context(app: Flask, message: Message) -> bool:
    with app.app_context():
        try:
            return deliver_claimed(message)
        except Exception:
            log.exception("delivery failed", extra={"message_id": message.id})
            return True  # left `sending`: the sweep makes it `unknown`


def deliver_claimed(message: Message) -> bool:
    """Deliver a claimed message; False when it was deferred (quota, busy) for a later try."""
    pace.acquire()
    try:
        deliver(app_of(message), message, requeue_transient=True)
    except DeliveryDeferred:
        pace.back_off()
        return False
    except errors.ApiError:
        pass  # settled: failed or unknown, recorded on the message
    return True


def app_of(message: Message) -> MiniProgram:
    """The app a message is delivered with: its own (each app has its client and token)."""
    app = current_app.extensions["apps"].get(message.app_id)
    if app is None:  # its app is no longer configured: nothing can send it
        raise LookupError(f"message {message.public_id} belongs to {message.app_id}, which is not configured")
    return app


def finish_batch_if_done(batch_id: int | None) -> None:
    """Mark the batch done once none of its messages is queued or sending."""
    if batch_id is None:
        return
    # EXISTS stops at the first open message; a COUNT per delivery made a batch quadratic.
    still_open = sa.exists().where(Message.batch_id == batch_id, Message.status.in_(OPEN_STATUSES))
    with work():
        finished = db.session.execute(
            sa.update(Batch)
            .where(Batch.id == batch_id, Batch.status != BatchStatus.DONE, ~still_open)
            .values(status=BatchStatus.DONE, finished_at=utcnow(), updated_at=utcnow())
        )
        if finished.rowcount and webhooks.enabled():
            webhooks.emit_batch_done(db.session.get(Batch, batch_id), batch_counts(batch_id))


# -- recovery ---------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Recover from lost jobs and killed workers.

    - `sending` for longer than SENDING_TIMEOUT: the worker died mid-call, so WeChat may or
      may not have it: `unknown`, credit kept spent (at most one call per credit).
    - `queued` untouched for REQUEUE_AFTER (a batch's, an asynchronous or a due scheduled
      message): its job was lost, or never made it to Redis: queued again.
    """
    config = current_app.config
    now = utcnow()
    stale_queued = now - timedelta(seconds=config["REQUEUE_AFTER"])
    with work():
        orphaned = give_up_abandoned_sends(now)
        lost = db.session.scalars(
            sa.select(Message.id).where(Message.status == MessageStatus.QUEUED, Message.updated_at < stale_queued)
        ).all()
        batches = db.session.scalars(sa.select(Batch.id).where(Batch.status != BatchStatus.DONE)).all()
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
        current_app.extensions["queue"].enqueue(ids)
    except errors.ServiceUnavailable:
        return False
    # Touched after queueing: a message queued twice is claimed once, one never queued is lost.
    with work():
        db.session.execute(
            sa.update(Message).where(Message.id.in_(ids), Message.status == MessageStatus.QUEUED).values(updated_at=now)
        )
    return True


def give_up_abandoned_sends(now, message_id: int | None = None) -> list[int]:
    """`sending` for longer than SENDING_TIMEOUT (all such messages, or just this one) becomes
    `unknown`, in the caller's unit of work; the ids changed."""
    stale_sending = now - timedelta(seconds=current_app.config["SENDING_TIMEOUT"])
    query = sa.select(Message.id).where(Message.status == MessageStatus.SENDING, Message.claimed_at < stale_sending)
    if message_id is not None:
        query = query.where(Message.id == message_id)
    orphaned = db.session.scalars(query).all()
    if orphaned:
        db.session.execute(
            sa.update(Message)
            .where(Message.id.in_(orphaned), Message.status == MessageStatus.SENDING)
            .values(status=MessageStatus.UNKNOWN, outcome=Outcome.UNKNOWN, updated_at=now)
        )
        webhooks.emit_abandoned(orphaned)
    return list(orphaned)


def send_left_by(public_id: str) -> Message | None:
    """The message a send's request reserved, read after that request is gone: one still
    `sending` after SENDING_TIMEOUT is given up as `unknown` now (the sweeper's rule)."""
    message_id = db.session.scalar(sa.select(Message.id).where(Message.public_id == public_id))
    if message_id is None:
        return None
    with work():
        give_up_abandoned_sends(utcnow(), message_id)
    return db.session.get(Message, message_id, populate_existing=True)
