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

from backend import errors, metrics
from backend.extensions import db
from backend.models import Batch, Message, User, new_public_id, utcnow
from backend.services import pace
from backend.services.sending import DeliveryDeferred, deliver, reported_kind, spend_credit
from backend.services.templates import get_template, stored_template
from backend.services.validation import validate_data

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
    return message.outcome if message.status == "failed" else message.status


def create_batch(request: BatchRequest) -> Batch:
    """Validate every recipient's values, write the batch and its messages, and queue them."""
    template = get_template(request.template_id)
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
    db.session.commit()
    enqueue_batch(batch.id)
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


def claim(message_id: int) -> tuple[Message, User] | None:
    """queued → sending, with the message's credit, in one transaction; None if not ours to send.

    Without a credit the message fails as `consent_required` here, and WeChat is not called.
    """
    claimed = db.session.execute(
        sa.update(Message)
        .where(Message.id == message_id, Message.status == "queued")
        .values(status="sending", claimed_at=utcnow(), updated_at=utcnow())
    ).rowcount
    if not claimed:
        db.session.rollback()
        return None
    message = db.session.get(Message, message_id, populate_existing=True)  # the row as the UPDATE left it
    user = db.session.get(User, message.user_id)
    # The template was looked up when the batch was made: read it, never call WeChat here.
    template = stored_template(message.template_id)
    kind = template.kind if template else reported_kind(user.id, message.template_id)
    allowed, _ = spend_credit(user.id, message.template_id, kind)
    if not allowed:
        message.status, message.outcome = "failed", "consent_required"
    _mark_running(message.batch_id)
    db.session.commit()
    if not allowed:
        metrics.record_send("consent_required", None)
    return (message, user) if allowed else None


def _mark_running(batch_id: int | None) -> None:
    if batch_id is not None:
        db.session.execute(
            sa.update(Batch).where(Batch.id == batch_id, Batch.status == "queued").values(status="running")
        )


def deliver_one(message_id: int) -> bool:
    """Claim and deliver one message; False when it was deferred (quota, busy) for a later try."""
    pace.acquire()  # before the claim: a worker waiting for its turn holds no message
    claimed = claim(message_id)
    if claimed is None:  # someone else's, already settled, or no consent
        batch_id = db.session.scalar(sa.select(Message.batch_id).where(Message.id == message_id))
    else:
        message, user = claimed
        batch_id = message.batch_id
        try:
            deliver(message, requeue_transient=True)
        except DeliveryDeferred:
            pace.back_off()
            return False
        except errors.ApiError:
            pass  # settled: failed or unknown, recorded on the message
    finish_batch_if_done(batch_id)
    return True


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
    stale_sending = now - timedelta(seconds=config.get("SENDING_TIMEOUT", 120))
    orphaned = db.session.scalars(
        sa.select(Message.id).where(Message.status == "sending", Message.claimed_at < stale_sending)
    ).all()
    if orphaned:
        db.session.execute(
            sa.update(Message)
            .where(Message.id.in_(orphaned), Message.status == "sending")
            .values(status="unknown", outcome="unknown", updated_at=now)
        )
    stale_queued = now - timedelta(seconds=config.get("REQUEUE_AFTER", 60))
    lost = db.session.scalars(
        sa.select(Message.id).where(
            Message.status == "queued", Message.batch_id.is_not(None), Message.updated_at < stale_queued
        )
    ).all()
    if lost:
        db.session.execute(sa.update(Message).where(Message.id.in_(lost)).values(updated_at=now))
    batches = db.session.scalars(sa.select(Batch.id).where(Batch.status != "done")).all()
    db.session.commit()
    if lost:
        current_app.extensions["dispatcher"].enqueue(list(lost))
    for batch_id in batches:
        finish_batch_if_done(batch_id)
    if orphaned or lost:
        log.warning("sweep recovered messages", extra={"unknown": len(orphaned), "requeued": len(lost)})
    return {"unknown": len(orphaned), "requeued": len(lost)}


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
