"""Erase one person (PIPL art. 47; docs/api.md "Personal data"): nothing of them stays in any table.

The user's row stays, anonymous, because messages and consent events point at it and the
dashboard counts them: its openid is renamed to a value that is no openid (`~erased~<id>`),
its personal columns (`User.PERSONAL_COLUMNS`) are emptied, and `erased_at` is set. Around it:

- messages: open ones (`scheduled`, `queued`) canceled; every one loses its openid, values and page;
- consent events: the scene goes, and a dedupe key (which names the openid) becomes its keyed
  hash, so that a replayed push still counts once;
- device subscriptions, send leases and binding codes of the person are deleted; so are webhook
  events and idempotency records whose JSON names them;
- a tombstone (`erasures`) keeps a keyed hash of (app, openid) under ERASURE_KEY, and one line
  goes to the erasure log (ERASURE_LOG) outside the database, so that after a restore of an
  older backup `reapply` finds the person again;
- the session tokens are voided (the token version is bumped);
- one `user.erased` webhook carries the external_id, for the business system to erase on its side.

Erasing twice is erasing once: the second call finds `erased_at` set and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from backend import errors, webhooks
from backend.db import end_read, work
from backend.extensions import db
from backend.infra.data_keys import derived_key
from backend.models import (
    BindingCode,
    ConsentEvent,
    DeviceBinding,
    DeviceBindingCode,
    DeviceSubscription,
    Erasure,
    IdempotencyRecord,
    Message,
    SendLease,
    StandingSetting,
    User,
    WebhookEvent,
    utcnow,
)
from backend.states import MessageStatus
from backend.users import personal, sessions

log = logging.getLogger(__name__)
ERASED_OPENID = "~erased~{id}"  # "~" is in no openid WeChat issues, and the id keeps it unique per app
# A `sending` message is in a worker's hands; a held one waits for a credit the person will never give.
OPEN = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.AWAITING_CONSENT)


@dataclass(frozen=True)
class Erased:
    id: int
    erased_at: datetime


def erasure_key() -> bytes:
    """ERASURE_KEY, else a key derived from SECRET_KEY; never DATA_KEY, which `wx keys rotate` replaces."""
    config = current_app.config
    secret = config.get("ERASURE_KEY")
    return derived_key(secret, "erasure key") if secret else derived_key(config["SECRET_KEY"], "erasure key")


def keyed_hash(text: str, key: bytes | None = None) -> str:
    return hmac.new(key or erasure_key(), text.encode(), hashlib.sha256).hexdigest()


def erased_key(dedupe_key: str, key: bytes | None = None) -> str:
    """What an erase leaves of a dedupe key (which names the openid): its keyed hash, still unique."""
    return "erased:" + keyed_hash(dedupe_key, key)


def is_tombstoned(app_id: str, openid: str) -> bool:
    """Was (app, openid) erased? The same openid may since have logged in again as a new user."""
    subject = subject_hash(app_id, openid)
    query = sa.select(Erasure.id).where(Erasure.app_id == app_id, Erasure.subject_hash == subject).limit(1)
    return db.session.scalar(query) is not None


def subject_hash(app_id: str, openid: str, key: bytes | None = None) -> str:
    """The tombstone's name for a person: HMAC-SHA256 of (app, openid), unreadable without the key."""
    return keyed_hash(f"{app_id}\n{openid}", key)


def log_path() -> str:
    return os.path.join(current_app.instance_path, current_app.config["ERASURE_LOG"])


def erase(user_id: int, *, reapplied: bool = False) -> Erased:
    """Erase the user with this id (the caller checked it is theirs to erase); idempotent.

    `reapplied`: the person is erased again after a restore (`reapply`): the log has the line
    already and the business system was told, so neither is written again.
    """
    with work():
        user = db.session.execute(sa.select(User).where(User.id == user_id).with_for_update()).scalar_one()
        erased = erase_in_unit(user, reapplied=reapplied)
    sessions.revoked(user_id)  # this process refuses their tokens at once, the others through Redis or within the TTL
    return erased


def erase_in_unit(user: User, *, reapplied: bool = False) -> Erased:
    """The erase of `user` (read for update) in the caller's unit of work: with a push that asks for
    it, the push's record and the erase commit together, so a retry never finds one without the other."""
    if user.erased_at is not None:
        return Erased(user.id, _aware(user.erased_at))
    now = utcnow()
    external_id = user.external_id
    subject = subject_hash(user.app_id, user.openid)
    _erase_rows(user)
    db.session.add(Erasure(app_id=user.app_id, subject_hash=subject, user_id=user.id, erased_at=now))
    user.openid = ERASED_OPENID.format(id=user.id)
    for column in User.PERSONAL_COLUMNS:
        setattr(user, column, None)
    user.erased_at = now
    user.token_version += 1  # every session token of theirs stops working
    if not reapplied:
        data = {"user_id": user.id, "external_id": external_id, "erased_at": iso(now)}
        webhooks.emit("user.erased", user.app_id, data)
    db.session.flush()  # the erase is written (or has failed) before the log says it happened
    if not reapplied:
        # Before the commit: a line for an erase whose commit then fails only erases again on a
        # reapply, whereas a committed erase missing from the log would come back with a restore.
        append_to_log(user.app_id, subject, now)
    log.info("user erased", extra={"user_id": user.id, "reapplied": reapplied})
    return Erased(user.id, now)


def _erase_rows(user: User) -> None:
    """Everything of the person outside the `users` row, in the caller's unit of work."""
    app_id, openid, user_id = user.app_id, user.openid, user.id
    messages = Message.__table__
    theirs = sa.or_(
        messages.c.user_id == user_id,
        # A batch recipient named by openid before the user existed (outcome user_not_found).
        sa.and_(messages.c.user_id.is_(None), messages.c.app_id == app_id, messages.c.openid == openid),
    )
    now = utcnow()
    db.session.execute(
        sa.update(messages)
        .where(theirs, messages.c.status.in_(OPEN))
        .values(status=MessageStatus.CANCELED, updated_at=now)
    )
    db.session.execute(sa.update(messages).where(theirs).values(openid=None, data={}, page=None, updated_at=now))

    events = ConsentEvent.__table__
    db.session.execute(sa.update(events).where(events.c.user_id == user_id).values(scene=None))
    key = erasure_key()
    keyed = db.session.execute(
        sa.select(events.c.id, events.c.dedupe_key).where(
            events.c.user_id == user_id, events.c.dedupe_key.is_not(None), ~events.c.dedupe_key.startswith("erased:")
        )
    ).all()
    if keyed:
        hashed = {row.id: erased_key(row.dedupe_key, key) for row in keyed}
        # A key hashed by an earlier erase of the same openid (a person who came back) keeps one row:
        # the later one loses its key, which only a replay of that same push would have needed.
        taken = set(
            db.session.scalars(
                sa.select(events.c.dedupe_key).where(
                    events.c.app_id == app_id, events.c.dedupe_key.in_(sorted(set(hashed.values())))
                )
            )
        )
        db.session.execute(
            sa.update(events).where(events.c.id == sa.bindparam("event_id")).values(dedupe_key=sa.bindparam("hashed")),
            [{"event_id": event_id, "hashed": None if value in taken else value} for event_id, value in hashed.items()],
        )

    db.session.execute(sa.delete(DeviceSubscription).where(DeviceSubscription.user_id == user_id))
    # Which devices a person follows says where they live: the bindings go, and so do the codes
    # they redeemed (an unredeemed code names a device, never a person).
    db.session.execute(sa.delete(DeviceBinding).where(DeviceBinding.user_id == user_id))
    db.session.execute(sa.delete(StandingSetting).where(StandingSetting.user_id == user_id))
    db.session.execute(sa.delete(DeviceBindingCode).where(DeviceBindingCode.redeemed_by == user_id))
    db.session.execute(sa.delete(SendLease).where(SendLease.appid == app_id, SendLease.openid == openid))
    codes = [BindingCode.redeemed_by == user_id]
    if user.external_id is not None:
        codes.append(sa.and_(BindingCode.app_id == app_id, BindingCode.external_id == user.external_id))
    db.session.execute(sa.delete(BindingCode).where(sa.or_(*codes)))
    for table, column, app_column in (
        (WebhookEvent.__table__, "payload", "app"),
        (IdempotencyRecord.__table__, "response", "app_id"),
    ):
        db.session.execute(sa.delete(table).where(table.c[app_column] == app_id, naming(table.c[column], user)))


def naming(column: sa.ColumnElement, user: User) -> sa.ColumnElement[bool]:
    """A JSON column's text names the user: their user_id (as json.dumps writes it), openid,
    unionid, external_id or phone number. The same test on SQLite and PostgreSQL (json is kept as written)."""
    text = sa.cast(column, sa.Text)
    tests = [text.contains(f'"user_id": {user.id},'), text.contains(f'"user_id": {user.id}}}')]
    # Not every personal column: a country code ("86") or a sealed value would match anything or
    # nothing; the phone number is looked for opened, in each of its spellings (users/personal.py).
    names = [getattr(user, name, None) for name in ("openid", "unionid", "external_id")]
    for value in (*names, *personal.numbers_of(user)):
        if value:
            tests.append(text.contains(json.dumps(value)[1:-1], autoescape=True))
    return sa.or_(*tests)


def append_to_log(app_id: str, subject: str, erased_at: datetime) -> None:
    """One line per erasure: the app, the keyed hash and the time; no personal data."""
    path = log_path()
    line = json.dumps({"erased_at": iso(erased_at), "app": app_id, "subject": subject}, sort_keys=True)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8") as log_file:
            log_file.write(line + "\n")
            log_file.flush()
            os.fsync(log_file.fileno())
    except OSError as exc:
        # No erase without its line: a restore would bring the person back unseen. The unit of
        # work rolls back, so nothing was erased, and the caller may try again once it is fixed.
        log.error("erasure log not writable", extra={"error": type(exc).__name__, "errno": exc.errno})
        raise errors.ServiceUnavailable(
            "The erasure log (ERASURE_LOG) can't be written; nothing was erased.", details={"retry_after": 60}
        ) from None


@dataclass(frozen=True)
class LogEntry:
    app_id: str
    subject: str
    erased_at: datetime


def read_log(path: str) -> Iterator[LogEntry]:
    """The entries of an erasure log; a line that is not one (a torn last line) is skipped, and logged."""
    with open(path, encoding="utf-8") as log_file:
        for number, line in enumerate(log_file, 1):
            try:
                entry = json.loads(line)
                yield LogEntry(entry["app"], entry["subject"], datetime.fromisoformat(entry["erased_at"]))
            except (ValueError, KeyError, TypeError):
                if line.strip():
                    log.warning("erasure log line skipped", extra={"line": number})


def reapply(entries: Iterable[LogEntry]) -> list[int]:
    """Erase again every person of the log found in this database (restored from a backup taken
    before their erasure); the ids erased. A user created after the logged erasure is the
    same openid logging in again, a new person, and is left alone."""
    wanted: dict[str, dict[str, datetime]] = {}
    for entry in entries:
        subjects = wanted.setdefault(entry.app_id, {})
        subjects[entry.subject] = max(entry.erased_at, subjects.get(entry.subject, entry.erased_at))
    key = erasure_key()
    found: list[int] = []
    for app_id, subjects in wanted.items():
        # Every live user of the app is hashed once: the log holds hashes, which no index can look up.
        query = sa.select(User.id, User.openid, User.created_at).where(User.app_id == app_id, User.erased_at.is_(None))
        for row in db.session.execute(query.execution_options(yield_per=1000)):
            erased_at = subjects.get(subject_hash(app_id, row.openid, key))
            if erased_at is not None and _aware(row.created_at) <= erased_at:
                found.append(row.id)
    end_read()  # the read ends before the erases' units of work
    for user_id in found:
        erase(user_id, reapplied=True)
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds, as the API writes times; None stays None."""
    if moment is None:
        return None
    return _aware(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def erased_answer(erased: Erased) -> dict[str, Any]:
    return {"id": erased.id, "erased_at": iso(erased.erased_at)}
