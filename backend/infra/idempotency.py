"""Idempotency keys as Stripe promises them, kept through crashes and outages.

The first request with a key is answered once: a retry with the same key and the same
request gets that answer again and changes nothing; the same key with a different request
is `idempotency_conflict`. Records are kept at least 24 hours.

What survives a crash is the *effect*: the service that commits a request's effect (a send's
outbox row, a batch, a report's credits) writes it beside the key in the same transaction
(`record_effect`), so a key is never without the effect it guards, nor an effect without its key.

- A send or a batch holds its key while it runs: the record is written first, with a lease
  (`locked_until`, SENDING_TIMEOUT after the request began). A retry meanwhile is
  `idempotency_in_progress`.
- A report's record is written only with its effect, in its one transaction: a concurrent
  retry waits for that transaction and then answers from what it committed.
- Once a lease has run out with no answer stored (its process died), a retry answers from
  the effect the first request left (the endpoint says how: `AnswerFromEffect`), or, when it
  left none, takes the key over with one conditional UPDATE (one winner) and runs afresh.
- An answer that says nothing happened and asks to try again later (429, 503, another 5xx)
  lets the key go only when no effect was committed; otherwise the key is kept and a retry
  answers from the effect. When the database can't be written at that moment (its connection
  was killed, it is down), the release waits in the process (`_unreleased`) and is made by the
  next request with a key in that process, or by a thread that tries once a second: a retry
  runs afresh instead of meeting `idempotency_in_progress` for SENDING_TIMEOUT. The release
  is the same conditional statement, so a key whose request committed an effect (it may have
  reached WeChat) stays.

A replay is the first answer as it was, in the first request's language too: an error's
`message` and its `Content-Language` do not follow the retry's Accept-Language.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.db import work
from backend.errors import DATABASE_ERRORS, ApiError, IdempotencyConflict, InvalidRequest
from backend.extensions import db
from backend.models import IdempotencyRecord, utcnow

KEEP_FOR = timedelta(hours=48)  # promised: at least 24 hours
PURGE_EVERY = 60.0  # seconds between two purges of expired records by one process
MAX_KEY_LENGTH = 255
NOT_KEPT = {429, 503}
BEGIN_ATTEMPTS = 3  # a key released or taken between two of our statements: look again

_records = IdempotencyRecord.__table__
_next_purge = 0.0
log = logging.getLogger(__name__)

# Keys whose release the database refused (record id -> claim): made as soon as it answers.
_unreleased: dict[int, Claim] = {}
_unreleased_lock = threading.Lock()


class IdempotencyInProgress(ApiError):
    """A request with this Idempotency-Key is still running; retry when it has answered."""

    code, status, message = "idempotency_in_progress", 409, "A request with this Idempotency-Key is still running."


class KeyTaken(Exception):
    """Another request committed first for this key; this request's transaction was rolled back."""


@dataclass
class Replay:
    status: int
    body: dict[str, Any]
    language: str | None = None  # the Content-Language of an error answer


@dataclass
class Claim:
    """This request holds the key.

    With a lease, `record_id` and `held_until` name it (and fence every later write: a
    request whose lease was taken over writes nothing). Without one the record does not
    exist yet: `record_effect` creates it with the effect. Keys are per app (`app_id`, the app
    the request acts for) and per caller (`scope`).
    """

    app_id: str
    scope: str
    key: str
    request_hash: str
    record_id: int | None = None
    held_until: datetime | None = None
    effect_written: bool = False


# What a request left, as the answer a retry gets: None when it left nothing that counts
# (a fresh run follows); raises IdempotencyInProgress while the effect is still unsettled.
AnswerFromEffect = Callable[[dict[str, Any]], Replay | None]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lease_time() -> timedelta:
    return timedelta(seconds=current_app.config["SENDING_TIMEOUT"])


def begin(
    app_id: str, scope: str, key: str, fingerprint: str, answer_from_effect: AnswerFromEffect, *, lease: bool = True
) -> Replay | Claim:
    """Claim the key for this request (with a lease, or to be written with the effect),
    or return the answer a retry gets."""
    _check(key)
    release_pending()
    _purge_if_due()
    for _ in range(BEGIN_ATTEMPTS):
        if lease:
            claim = _insert_lease(app_id, scope, key, fingerprint)
            if claim is not None:
                return claim
        record = db.session.execute(
            sa.select(_records).where(_records.c.app_id == app_id, _records.c.scope == scope, _records.c.key == key)
        ).first()
        if record is None:
            if lease:
                continue  # released between our insert and our read
            return Claim(app_id, scope, key, fingerprint)  # the transaction goes on with the view's work
        resumed = _resume(record, fingerprint, answer_from_effect)
        if resumed is not None:
            return resumed
    raise IdempotencyInProgress()


def _check(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(details={"Idempotency-Key": f"must be 1 to {MAX_KEY_LENGTH} characters"})
    if "\x00" in key:  # PostgreSQL text can't hold NUL: it was a 500 there
        raise InvalidRequest(details={"Idempotency-Key": "must not contain NUL characters"})


def _purge_if_due() -> None:
    global _next_purge
    if time.monotonic() < _next_purge:
        return
    _next_purge = time.monotonic() + PURGE_EVERY
    with work():
        db.session.execute(sa.delete(_records).where(_records.c.created_at < utcnow() - KEEP_FOR))


def _insert_lease(app_id: str, scope: str, key: str, fingerprint: str) -> Claim | None:
    now = utcnow()
    held_until = now + lease_time()
    try:
        # Committed at once: the lease is what a concurrent retry must see while the view runs.
        with work():
            record_id = db.session.execute(
                sa.insert(_records)
                .values(
                    app_id=app_id,
                    scope=scope,
                    key=key,
                    request_hash=fingerprint,
                    locked_until=held_until,
                    created_at=now,
                )
                .returning(_records.c.id)
            ).scalar_one()
    except IntegrityError:  # the key has a record already (the unit was rolled back): read it
        return None
    return Claim(app_id, scope, key, fingerprint, record_id, held_until)


def _resume(record: sa.Row, fingerprint: str, answer_from_effect: AnswerFromEffect) -> Replay | Claim | None:
    """The answer to a retry of a known key, or this request's claim after a take-over."""
    if record.request_hash != fingerprint:
        raise IdempotencyConflict()
    if record.status_code is not None:
        return Replay(record.status_code, record.response or {}, record.content_language)
    if _as_utc(record.locked_until) > utcnow():
        raise IdempotencyInProgress()
    if record.effect is not None:
        answer = answer_from_effect(record.effect)
        if answer is not None:
            return answer
    return _take_over(record)


def _take_over(record: sa.Row) -> Claim | None:
    """The holder died (or left only an effect that changed nothing): hold the key afresh.

    One conditional UPDATE on the state we read: two retries can't both take it, and a
    holder that wrote its effect meanwhile keeps it (its write is fenced the same way).
    """
    held_until = utcnow() + lease_time()
    effect_unchanged = _records.c.effect.is_(None) if record.effect is None else _records.c.effect.is_not(None)
    with work():
        taken = db.session.execute(
            sa.update(_records)
            .where(
                _records.c.id == record.id,
                _records.c.locked_until == record.locked_until,
                _records.c.status_code.is_(None),
                effect_unchanged,
            )
            .values(locked_until=held_until, effect=sa.null())
        ).rowcount
    if not taken:
        return None  # someone else moved first: look again
    return Claim(record.app_id, record.scope, record.key, record.request_hash, record.id, held_until)


def record_effect(claim: Claim | None, effect: dict[str, Any]) -> None:
    """Write what this request commits beside its key, in the caller's open transaction.

    Called by a service just before it commits its effect. Raises KeyTaken (after rolling
    the transaction back) when another request got the key first: the effect is undone.
    """
    if claim is None:
        return
    try:
        if claim.record_id is None:
            db.session.execute(_released_record(claim, effect=effect))
            written = True
        else:
            written = bool(
                db.session.execute(
                    sa.update(_records).where(_held(claim), _records.c.effect.is_(None)).values(effect=effect)
                ).rowcount
            )
    except IntegrityError:
        written = False
    if not written:
        db.session.rollback()
        raise KeyTaken()
    claim.effect_written = True


def finish(claim: Claim, status: int, body: dict[str, Any], language: str | None = None) -> None:
    """Keep the answer for replays, or let the key go when the answer invites a retry and
    nothing was committed."""
    db.session.rollback()  # whatever the view left unfinished is not ours to commit
    invites_retry = status in NOT_KEPT or status >= 500 and status != 502
    if claim.record_id is None:  # the record is written with the effect
        if not (claim.effect_written or invites_retry):
            _insert_answer(claim, status, body, language)
        return
    if not invites_retry:
        with work():
            db.session.execute(
                sa.update(_records)
                .where(_held(claim))
                .values(status_code=status, response=body, content_language=language)
            )
        return
    try:
        _release(claim)
    except DATABASE_ERRORS as exc:  # the database is what failed: let the key go once it answers
        db.session.remove()
        with _unreleased_lock:
            _unreleased[claim.record_id] = claim
        log.warning("idempotency key release postponed", extra={"error": type(exc).__name__})
        _keep_trying(current_app._get_current_object(), claim.held_until)


def _release(claim: Claim) -> None:
    """Let a held key go (a retry runs afresh), unless an effect was committed with it: then
    the key stays, and a retry answers from the effect now."""
    with work():
        if not db.session.execute(sa.delete(_records).where(_held(claim), _records.c.effect.is_(None))).rowcount:
            db.session.execute(sa.update(_records).where(_held(claim)).values(locked_until=utcnow()))


RETRY_RELEASE_EVERY = 1.0  # seconds
_trying = threading.Event()  # set while a thread is trying the postponed releases


def _keep_trying(app, until: datetime | None) -> None:
    """Once a second, until the releases are made or the lease would have ended anyway (a retry
    may come to another process, which only the database tells)."""
    with _unreleased_lock:
        if _trying.is_set():
            return
        _trying.set()

    def run() -> None:
        try:
            while _unreleased and (until is None or utcnow() < until):
                time.sleep(RETRY_RELEASE_EVERY)
                with app.app_context():
                    release_pending()
        finally:
            _trying.clear()

    threading.Thread(target=run, daemon=True, name="idempotency-release").start()


def release_pending() -> None:
    """Make the releases the database refused before (none: no statement, no lock)."""
    if not _unreleased:
        return
    with _unreleased_lock:
        claims = list(_unreleased.values())
        _unreleased.clear()
    for number, claim in enumerate(claims):
        try:
            _release(claim)
        except DATABASE_ERRORS:
            db.session.remove()
            with _unreleased_lock:  # still down: kept for the next look
                _unreleased.update({later.record_id: later for later in claims[number:]})
            return


def _insert_answer(claim: Claim, status: int, body: dict[str, Any], language: str | None) -> None:
    try:
        with work():
            db.session.execute(_released_record(claim, status_code=status, response=body, content_language=language))
    except IntegrityError:  # a concurrent request with the key answered first (the unit was rolled back)
        pass  # its answer stays


def _released_record(claim: Claim, **columns: Any) -> sa.Insert:
    """The INSERT of a key's record written with its effect or its answer: no lease left to hold."""
    now = utcnow()
    return sa.insert(_records).values(
        app_id=claim.app_id,
        scope=claim.scope,
        key=claim.key,
        request_hash=claim.request_hash,
        locked_until=now,
        created_at=now,
        **columns,
    )


def _held(claim: Claim) -> sa.ColumnElement[bool]:
    """Still this request's lease, and not yet answered."""
    return sa.and_(
        _records.c.id == claim.record_id,
        _records.c.locked_until == claim.held_until,
        _records.c.status_code.is_(None),
    )


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC
