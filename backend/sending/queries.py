"""Reads for the API: messages, batches and their pages, as the views answer them.

Reads only: every write goes through the capability modules beside this one. Each read is
scoped to the appids the caller may see: a row of another app is no row here (404, not 403).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from backend.errors import NotFound, UserErased
from backend.extensions import db
from backend.models import Batch, Message, User
from backend.sending import batches, device_messages


@dataclass(frozen=True)
class Page:
    """Rows in id order, and the id the next page starts after (None on the last page)."""

    items: list[Any]
    last_id: int | None


def _page(query: sa.Select, id_column: Any, after: int, size: int) -> Page:
    query = query.where(id_column > after).order_by(id_column).limit(size + 1)
    rows: Sequence[Any] = db.session.scalars(query).all()
    more = len(rows) > size
    rows = rows[:size]
    return Page(list(rows), rows[-1].id if more else None)


# -- messages -------------------------------------------------------------------------------


def message(app_ids: Iterable[str], public_id: str) -> Message:
    found = db.session.scalar(
        sa.select(Message).where(Message.public_id == public_id, Message.app_id.in_(tuple(app_ids)))
    )
    if found is None:
        raise NotFound("No message with that id.")
    if found.user_id is not None and db.session.scalar(sa.select(User.erased_at).where(User.id == found.user_id)):
        raise UserErased(details={"message_id": public_id})  # its values and recipient are gone
    return found


def messages(app_ids: Iterable[str], status: str | None, after: int, size: int) -> Page:
    """The messages of these apps, oldest first, only those with `status` when given."""
    query = sa.select(Message).where(Message.app_id.in_(tuple(app_ids)))
    if status:
        query = query.where(Message.status == status)
    return _page(query, Message.id, after, size)


# -- batches --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchProgress:
    """A batch and its messages counted by outcome."""

    batch: Batch
    counts: dict[str, int]


def progress(batch: Batch) -> BatchProgress:
    return BatchProgress(batch, batches.batch_counts(batch.id))


def batch(app_ids: Iterable[str], public_id: str) -> Batch:
    found = db.session.scalar(sa.select(Batch).where(Batch.public_id == public_id, Batch.app_id.in_(tuple(app_ids))))
    if found is None:
        raise NotFound("No batch with that id.")
    return found


def batch_left_by(public_id: str) -> Batch | None:
    """The batch a request committed under an Idempotency-Key (its own app's, by construction)."""
    return db.session.scalar(sa.select(Batch).where(Batch.public_id == public_id))


def batch_messages(batch: Batch, outcome: str | None, after: int, size: int) -> Page:
    """A batch's messages, only those with `outcome` when given: a status, or a failed message's error code."""
    query = sa.select(Message).where(Message.batch_id == batch.id)
    if outcome:  # the one outcome rule, in SQL (Message.shown_outcome)
        query = query.where(Message.shown_outcome == outcome)
    return _page(query, Message.id, after, size)


# -- device sends -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceSend:
    """A device send as its answer shows it: every message when it was delivered in the request
    (201), else the batch's counts (202)."""

    batch: Batch
    skipped: list[dict[str, Any]]
    messages: list[Message] | None = None
    total: int | None = None
    counts: dict[str, int] | None = None

    @property
    def inline(self) -> bool:
        return self.messages is not None


def device_send(batch: Batch, inline: bool, skipped: list[dict[str, Any]]) -> DeviceSend:
    if inline:
        return DeviceSend(batch, skipped, messages=device_messages.messages_of(batch))
    return DeviceSend(batch, skipped, total=batch.total, counts=batches.batch_counts(batch.id))
