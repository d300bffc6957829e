"""Idempotency keys as Stripe promises them.

The first request with a key stores its answer (status and body); a retry with the same
key and the same request gets that answer again and changes nothing; the same key with a
different request is `idempotency_conflict`. Answers are kept at least 24 hours. An
answer that says nothing happened and asks to try again later (429, 503) is not kept, so
the retry runs for real.

A replay is the first answer as it was, in the first request's language too: an error's
`message` and its `Content-Language` do not follow the retry's Accept-Language.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.errors import ApiError, IdempotencyConflict, InvalidRequest
from backend.extensions import db
from backend.models import IdempotencyRecord, utcnow

KEEP_FOR = timedelta(hours=48)  # promised: at least 24 hours
MAX_KEY_LENGTH = 255
NOT_KEPT = {429, 503}


class IdempotencyInProgress(ApiError):
    """A request with this Idempotency-Key is still running; retry when it has answered."""

    code, status, message = "idempotency_in_progress", 409, "A request with this Idempotency-Key is still running."


@dataclass
class Replay:
    status: int
    body: dict[str, Any]
    language: str | None = None  # the Content-Language of an error answer


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(scope: str, key: str, fingerprint: str) -> Replay | IdempotencyRecord:
    """Claim the key for this request, or return the stored answer to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(details={"Idempotency-Key": f"must be 1 to {MAX_KEY_LENGTH} characters"})
    if "\x00" in key:  # PostgreSQL text can't hold NUL: it was a 500 there
        raise InvalidRequest(details={"Idempotency-Key": "must not contain NUL characters"})
    db.session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP_FOR))
    record = IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint)
    db.session.add(record)
    try:
        db.session.commit()
        return record
    except IntegrityError:
        db.session.rollback()
    existing = db.session.scalar(
        sa.select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if existing is None:  # it was abandoned between our insert and our read
        return begin(scope, key, fingerprint)
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict()
    if existing.status_code is None:
        raise IdempotencyInProgress()
    return Replay(existing.status_code, existing.response or {}, existing.content_language)


def finish(record: IdempotencyRecord, status: int, body: dict[str, Any], language: str | None = None) -> None:
    """Keep the answer for replays, or let the key go when the answer invites a retry."""
    db.session.rollback()  # whatever the view left unfinished is not ours to commit
    if status in NOT_KEPT or status >= 500 and status != 502:
        db.session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
    else:
        db.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record.id)
            .values(status_code=status, response=body, content_language=language)
        )
    db.session.commit()
