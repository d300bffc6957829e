"""Scheduled sends come due: `scheduled` rows become `queued` at their `send_at` (docs/api.md).

The due-scanner (`release_due`) runs every DUE_SCAN_INTERVAL in the sweeper thread of every
`flask wx worker`, and of the web process without Redis (delivery/queue.py). It turns due rows
into `queued` ones with a conditional UPDATE, so two scanners never queue one message twice,
then hands their ids to the queue; consent is checked and the credit spent at the claim
(delivery/outbox.py), like any queued message's.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from backend import errors
from backend.consent import held
from backend.db import end_read, work
from backend.delivery.outbox import finish_batch_if_done
from backend.extensions import db
from backend.models import Message, utcnow
from backend.states import MessageStatus

log = logging.getLogger(__name__)

DUE_BATCH = 1000  # due messages released by one statement
_messages = Message.__table__


def settle_held(now: datetime | None = None, *, look_for_credits: bool = True) -> None:
    """Held messages (consent/held.py): those past their wait_until expire (their batches may be
    done now), and with `look_for_credits` those whose (user, template) has a credit already
    are released: the safety net behind the release in the report's own transaction. One
    query each over the held rows only (partial indexes)."""
    expired = held.expire_due(now)
    for batch_id in sorted({message.batch_id for message in expired if message.batch_id is not None}):
        finish_batch_if_done(batch_id)
    if look_for_credits:
        held.release_credited()


def release_due(now: datetime | None = None) -> list[int]:
    """Due `scheduled` messages become `queued` and go to the queue; the ids released.

    The UPDATE is conditional on `scheduled`, so of two scanners only one gets an id back.
    When the queue is down the rows go back to `scheduled` (still due: the next scan tries
    again); a job that did reach the queue meanwhile finds them not `queued` and skips them.
    """
    now = now or utcnow()
    # A read first: most scans find nothing due, and take no write lock (SQLite) for it.
    due = db.session.scalars(
        sa.select(_messages.c.id)
        .where(_messages.c.status == MessageStatus.SCHEDULED, _messages.c.send_at <= now)
        .order_by(_messages.c.send_at)
        .limit(DUE_BATCH)
    ).all()
    if not due:
        end_read()
        return []
    with work():
        released = db.session.execute(
            sa.update(_messages)
            .where(_messages.c.id.in_(due), _messages.c.status == MessageStatus.SCHEDULED)
            .values(status=MessageStatus.QUEUED, updated_at=now)
            .returning(_messages.c.id)
        ).scalars()
        ids = sorted(released)
    if not ids:
        return []
    try:
        current_app.extensions["queue"].enqueue(ids)
    except errors.ServiceUnavailable:
        back = sa.update(_messages).where(_messages.c.id.in_(ids), _messages.c.status == MessageStatus.QUEUED)
        with work():
            db.session.execute(back.values(status=MessageStatus.SCHEDULED))
        log.warning("due messages not queued yet: Redis is down", extra={"count": len(ids)})
        return []
    return ids
