"""Sends that are delivered later: `Prefer: respond-async`, `send_at`, and canceling them.

Such a message is written as an outbox row without spending anything: `queued` (the workers
deliver it now) or `scheduled` (at `send_at`). Consent is checked and the credit spent when a
worker claims it (delivery/outbox.py `claim_group`), the same claim as a batch message's,
so a user who revokes in the meantime gets nothing and WeChat is not called.

The due-scanner (delivery/due.py) turns due `scheduled` rows into `queued` ones at their
`send_at`. A canceled message is never claimed: the claim is conditional on `queued`, even for
an id already on the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import make_transient_to_detached

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.consent import ledger
from backend.db import work
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Message, utcnow
from backend.sending.single import SendRequest, checked_row
from backend.states import MessageStatus

log = logging.getLogger(__name__)

CANCELABLE = (MessageStatus.SCHEDULED, MessageStatus.AWAITING_CONSENT, MessageStatus.QUEUED)

_messages = Message.__table__


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def initial_status(send_at: datetime | None, now: datetime) -> tuple[str, datetime | None]:
    """`scheduled` until a future send_at, else `queued` (a time in the past means now)."""
    if send_at is not None and as_utc(send_at) > now:
        return MessageStatus.SCHEDULED, send_at.astimezone(UTC)
    return MessageStatus.QUEUED, None


def queue_message(
    mini_program: MiniProgram, request: SendRequest, send_at: datetime | None, key: idempotency.Claim | None = None
) -> Message:
    """Validate one send of `mini_program` as a synchronous one would (404, 422), write it `queued` or
    `scheduled` with the Idempotency-Key's record in one unit of work, and queue it if due.

    Nothing is spent here, and consent is not checked yet: both happen at delivery.
    """
    now = utcnow()
    status, due_at = initial_status(send_at, now)
    row, _ = checked_row(mini_program, request, status, now, send_at=due_at)
    with work():
        message_id = db.session.execute(sa.insert(_messages).returning(_messages.c.id), row).scalar_one()
        idempotency.record_effect(key, {"message": row["public_id"], "later": True})
    # The row as written, detached: the answer says `queued` even if a worker is quicker.
    message = Message(id=message_id, **row)
    make_transient_to_detached(message)
    if status == MessageStatus.QUEUED:
        enqueue_committed([message.id])
    return message


def enqueue_committed(ids: list[int]) -> None:
    """Hand committed `queued` rows to the queue. When it is down they stay `queued`, and the
    sweep queues them again after REQUEUE_AFTER: nothing is lost."""
    try:
        current_app.extensions["queue"].enqueue(ids)
    except errors.ServiceUnavailable:
        log.warning("messages not queued yet: Redis is down", extra={"message_ids": ids[:20]})
    except Exception:
        log.exception("messages not queued yet", extra={"message_ids": ids[:20]})
        db.session.rollback()


def cancel(public_id: str, appids: Iterable[str]) -> Message:
    """`scheduled`, `awaiting_consent` or `queued` → `canceled` (one conditional UPDATE, so a worker's claim and a
    cancel never both win), for a message of one of `appids` (the apps the caller may act for);
    404 for no such message, 409 not_cancelable otherwise."""
    appids = list(appids)
    now = utcnow()
    with work():
        canceled = db.session.execute(
            sa.update(_messages)
            .where(
                _messages.c.public_id == public_id,
                _messages.c.app_id.in_(appids),
                _messages.c.status.in_(CANCELABLE),
            )
            .values(status=MessageStatus.CANCELED, updated_at=now)
            .returning(*_messages.c)
        ).first()
        if canceled is not None:  # message.canceled, in the cancel's unit of work (the outbox)
            webhooks.emit_messages("message.canceled", [canceled._mapping])
            if canceled.credit_reserved:  # a released held message: the credit that released it comes back
                ledger.current().refund(canceled.template_id, [canceled.user_id], detail={"message_id": public_id})
    message = db.session.scalar(sa.select(Message).where(Message.public_id == public_id, Message.app_id.in_(appids)))
    if message is None:
        raise errors.NotFound("No message with that id.")
    if canceled is None:
        raise errors.NotCancelable(details={"message_id": public_id, "status": message.status})
    return message
