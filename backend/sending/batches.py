"""Batch sends: one template to many users, delivered by workers from the outbox.

The `Message` rows are the outbox. Creating a batch validates every recipient's values up
front, writes one row per recipient and hands their ids to the queue (`backend/delivery/queue.py`);
how they are claimed and delivered is `delivery/outbox.py`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.db import work
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Batch, Message, utcnow
from backend.sending.later import initial_status
from backend.sending.rows import message_row
from backend.states import IfNoCredit, MessageStatus, message_outcome
from backend.templates.catalog import get_template, refuse_if_banned
from backend.templates.values import validate_data
from backend.users import recipients

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000


@dataclass
class BatchRequest:
    template_id: str
    data: dict[str, Any]
    recipients: list[dict[str, Any]]
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None
    truncate: bool = False
    send_at: datetime | None = None  # its messages are `scheduled` until then
    if_no_credit: str = IfNoCredit.FAIL
    wait_until: datetime | None = None  # with "wait": a recipient without a credit is held until then


def create_batch(mini_program: MiniProgram, request: BatchRequest, key: idempotency.Claim | None = None) -> Batch:
    """Validate every recipient's values, write the batch of `mini_program` and its messages, and queue them
    (or leave them `scheduled` until `send_at`: consent is checked then, sending/later.py).

    `key`: the Idempotency-Key the request holds; the batch is written with it.
    """
    template = get_template(mini_program, request.template_id)
    refuse_if_banned(mini_program.appid, request.template_id)
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

    resolved = recipients.resolve_batch(mini_program.appid, request.recipients)
    now = utcnow()
    status, send_at = initial_status(request.send_at, now)
    with work():
        batch = Batch(app_id=mini_program.appid, template_id=request.template_id, total=len(request.recipients))
        db.session.add(batch)
        db.session.flush()
        rows = []
        for recipient, data, found in zip(request.recipients, values, resolved, strict=True):
            user = found if isinstance(found, recipients.Match) else None
            rows.append(
                message_row(
                    mini_program,
                    template_id=request.template_id,
                    data=data,
                    user_id=user.user_id if user else None,
                    openid=user.openid if user else recipient.get("openid"),
                    # A recipient with no user fails here, with the reason as its outcome.
                    status=status if user else MessageStatus.FAILED,
                    outcome=None if user else found,
                    now=now,
                    page=request.page,
                    miniprogram_state=request.miniprogram_state,
                    lang=request.lang,
                    batch_id=batch.id,
                    send_at=send_at if user else None,
                    wait_until=request.wait_until if user and request.if_no_credit == IfNoCredit.WAIT else None,
                )
            )
        db.session.execute(sa.insert(Message), rows)
        webhooks.emit_messages("message.failed", [row for row in rows if row["status"] == MessageStatus.FAILED])
        idempotency.record_effect(key, {"batch": batch.public_id})
    # Committed: from here on the answer is the batch. Its rows are the outbox, so messages
    # that could not be queued now are queued by the sweeper (REQUEUE_AFTER) instead.
    if status == MessageStatus.SCHEDULED:
        return batch  # the due-scanner queues its messages at send_at
    try:
        enqueue_batch(batch.id)
    except errors.ServiceUnavailable:
        log.warning("batch not queued yet: Redis is down", extra={"batch_id": batch.public_id})
    except Exception:
        log.exception("batch not queued yet", extra={"batch_id": batch.public_id})
        db.session.rollback()
    return batch


def enqueue_batch(batch_id: int) -> None:
    ids = db.session.scalars(
        sa.select(Message.id)
        .where(Message.batch_id == batch_id, Message.status == MessageStatus.QUEUED)
        .order_by(Message.id)
    ).all()
    current_app.extensions["queue"].enqueue(list(ids))


# -- reading ------------------------------------------------------------------------


def batch_counts(batch_id: int) -> dict[str, int]:
    """The batch's messages counted by outcome (the one rule: states.message_outcome)."""
    rows = db.session.execute(
        sa.select(Message.status, Message.outcome, sa.func.count())
        .where(Message.batch_id == batch_id)
        .group_by(Message.status, Message.outcome)
    ).all()
    counts: Counter[str] = Counter()
    for status, failure, count in rows:
        counts[message_outcome(status, failure)] += count
    return dict(counts)
