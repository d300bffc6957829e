"""Batch sends: one template to many users, delivered by workers from the outbox.

The `Message` rows are the outbox. Creating a batch validates every recipient's values up
front, writes one row per recipient and hands their ids to the queue (`backend/delivery/queue.py`);
how they are claimed and delivered is `delivery/outbox.py`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Batch, Message, new_public_id, utcnow
from backend.sending.later import initial_status
from backend.states import MessageStatus
from backend.templates.catalog import get_template, refuse_if_banned
from backend.templates.values import validate_data
from backend.users import recipients

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000
FINAL_OUTCOMES = ("sent", "unknown", "canceled")  # with the failure codes
OPEN_STATUSES = ("scheduled", "queued", "sending")


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


def outcome(message: Message) -> str:
    """scheduled, queued, sending, sent, unknown, canceled, or the error code of a failed message."""
    return message.shown_outcome


def create_batch(mini_program: MiniProgram, request: BatchRequest, key: idempotency.Claim | None = None) -> Batch:
    """Validate every recipient's values, write the batch of `app` and its messages, and queue them
    (or leave them `scheduled` until `send_at`: consent is checked then, sending/later.py).

    `key`: the Idempotency-Key the request holds; the batch is written with it.
    """
    template = get_template(mini_program, request.template_id)
    refuse_if_banned(mini_program.appid, request.template_id)
    request = replace(request, miniprogram_state=request.miniprogram_state or mini_program.miniprogram_state)
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
    batch = Batch(app_id=mini_program.appid, template_id=request.template_id, total=len(request.recipients))
    db.session.add(batch)
    db.session.flush()
    now = utcnow()
    status, send_at = initial_status(request.send_at, now)
    rows = []
    for recipient, data, found in zip(request.recipients, values, resolved, strict=True):
        user = found if isinstance(found, recipients.Match) else None
        rows.append(
            {
                "public_id": new_public_id("msg"),
                "app_id": mini_program.appid,
                "batch_id": batch.id,
                "template_id": request.template_id,
                "user_id": user.user_id if user else None,
                "openid": user.openid if user else recipient.get("openid"),
                "data": data,
                "page": request.page,
                "lang": request.lang or "zh_CN",
                "miniprogram_state": request.miniprogram_state or current_app.config["WX_MINIPROGRAM_STATE"],
                "status": status if user else "failed",
                "send_at": send_at if user else None,
                "outcome": None if user else found,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(sa.insert(Message), rows)
    webhooks.emit_messages("message.failed", [row for row in rows if row["status"] == "failed"])
    idempotency.record_effect(key, {"batch": batch.public_id})
    db.session.commit()
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
        sa.select(Message.id).where(Message.batch_id == batch_id, Message.status == "queued").order_by(Message.id)
    ).all()
    current_app.extensions["queue"].enqueue(list(ids))


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
