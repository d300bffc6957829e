"""Retention: what the backend no longer needs is purged, in short batches that never hold up a send.

Four kinds (docs/operations.md, "Retention"):
- `message_values`: a message older than RETAIN_MESSAGE_VALUES_DAYS (and no longer open) loses
  its `data`; its status, errcode and dates stay, so the dashboard's counts don't change.
- `consent_events`: reports and pushes older than RETAIN_EVENTS_DAYS are deleted, except, per
  (user, template) whose subscription still holds a credit (or a long-term accept), the last
  event that granted it: the ledger must always be able to say where a credit came from.
- `webhook_events`: delivered (or given-up) events older than RETAIN_WEBHOOK_EVENTS_DAYS.
- `idempotency`: records older than IDEMPOTENCY_DAYS: a retry comes within minutes, not weeks.

The first three may be set per app in WX_APPS_FILE. Each batch is a read of at most BATCH ids
(a read blocks no writer), then one statement on those ids by primary key in its own short
transaction, which re-checks the condition (a credit granted meanwhile protects its event); a
batch that held its transaction longer than BATCH_SECONDS makes the next one smaller.
Batches go in id order up to the last id old enough when the run began, so rows a batch leaves
(a protected event, an open message) are not read again. `purge` runs from `flask wx retention
run`, and every RETENTION_INTERVAL from the sweeper of `flask wx worker` and of the web process
without Redis, one process at a time (`claim_run`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from backend.apps import RETENTION_SETTINGS
from backend.consent.ledger import upsertable_insert
from backend.db import end_read, work
from backend.extensions import db
from backend.models import ConsentEvent, IdempotencyRecord, Message, RetentionCount, Subscription, WebhookEvent, utcnow
from backend.ops import metrics
from backend.states import OPEN_STATUSES, EventResult, TemplateKind

log = logging.getLogger(__name__)

BATCH = 1000  # rows per statement at most
MIN_BATCH = 50
# A batch's transaction holds row locks (PostgreSQL) or the write lock (SQLite) that a send may
# wait for: each batch is timed, halved while it takes longer than this, doubled (up to BATCH)
# while it takes under a quarter of it. On a loaded machine 1,000 SQLite deletes took 400 ms.
BATCH_SECONDS = 0.05
IDEMPOTENCY_DAYS = 7
CHECK_INTERVAL = 60.0  # seconds between two looks at whether a purge is due
RUN_KIND = "run"  # the row of retention_counts whose last_at is the last run's start


@dataclass(frozen=True)
class Kind:
    name: str
    setting: str | None  # the retention setting (per app overridable); None: IDEMPOTENCY_DAYS
    table: sa.Table
    app_column: sa.Column | None
    age_column: sa.Column
    where: Callable[[], Iterable[sa.ColumnElement[bool]]]  # what else a row must be to go
    act: Callable[[list], sa.Executable]  # the statement on the chosen ids


_messages, _events, _webhooks, _records = (
    Message.__table__,
    ConsentEvent.__table__,
    WebhookEvent.__table__,
    IdempotencyRecord.__table__,
)


def _event_explains_a_credit() -> sa.ColumnElement[bool]:
    """The event is the last grant of a (user, template) whose subscription still holds a credit."""
    later = _events.alias("later")
    grants = (later.c.credits_delta > 0) | (later.c.result == EventResult.ACCEPT)
    # The newest grant of the pair: ix_consent_events_pair read backwards, stopping at the first one.
    last_grant = (
        sa.select(later.c.id)
        .correlate(_events)
        .where(later.c.user_id == _events.c.user_id, later.c.template_id == _events.c.template_id, grants)
        .order_by(later.c.id.desc())
        .limit(1)
    )
    subscription = Subscription.__table__
    holds_a_credit = (subscription.c.remaining > 0) | (
        (subscription.c.kind != TemplateKind.ONE_TIME) & (subscription.c.status == EventResult.ACCEPT)
    )
    return sa.exists().where(
        subscription.c.user_id == _events.c.user_id,
        subscription.c.template_id == _events.c.template_id,
        holds_a_credit,
        _events.c.id == last_grant.scalar_subquery(),
    )


def _empty_values(ids: list) -> sa.Executable:
    return (
        sa.update(_messages)
        .where(_messages.c.id.in_(ids), _messages.c.data_purged_at.is_(None), _messages.c.status.not_in(OPEN_STATUSES))
        .values(data={}, data_purged_at=utcnow())
    )


KINDS = (
    Kind(
        "message_values",
        "RETAIN_MESSAGE_VALUES_DAYS",
        _messages,
        _messages.c.app_id,
        _messages.c.created_at,
        lambda: (_messages.c.data_purged_at.is_(None), _messages.c.status.not_in(OPEN_STATUSES)),
        _empty_values,
    ),
    Kind(
        "consent_events",
        "RETAIN_EVENTS_DAYS",
        _events,
        _events.c.app_id,
        _events.c.created_at,
        lambda: (~_event_explains_a_credit(),),
        lambda ids: sa.delete(_events).where(_events.c.id.in_(ids), ~_event_explains_a_credit()),
    ),
    Kind(
        "webhook_events",
        "RETAIN_WEBHOOK_EVENTS_DAYS",
        _webhooks,
        _webhooks.c.app,
        _webhooks.c.created_at,
        lambda: (_webhooks.c.status.in_(("delivered", "dead")),),
        lambda ids: sa.delete(_webhooks).where(_webhooks.c.id.in_(ids), _webhooks.c.status.in_(("delivered", "dead"))),
    ),
    Kind(
        "idempotency",
        None,
        _records,
        None,
        _records.c.created_at,
        lambda: (),
        lambda ids: sa.delete(_records).where(_records.c.id.in_(ids)),
    ),
)


def retention_in_force(config=None, registry=None) -> dict[str, dict[str, int]]:
    """{setting: {"*": days, appid: days for an app with its own}}, for `wx doctor` and the docs."""
    config = config if config is not None else current_app.config
    registry = registry if registry is not None else current_app.extensions["apps"]
    shown: dict[str, dict[str, int]] = {}
    for name in RETENTION_SETTINGS:
        shown[name] = {"*": config[name]}
        for mini_program in registry:
            own = dict(mini_program.settings.retention)
            if name in own:
                shown[name][mini_program.appid] = own[name]
    return shown


def _scopes(kind: Kind, now: datetime) -> list[tuple[datetime, sa.ColumnElement[bool] | None]]:
    """(cutoff, which rows) per retention in force: each app with its own, then every other app."""
    if kind.setting is None:
        return [(now - timedelta(days=IDEMPOTENCY_DAYS), None)]
    days = retention_in_force()[kind.setting]
    own = {appid: value for appid, value in days.items() if appid != "*"}
    scopes = [(now - timedelta(days=value), kind.app_column == appid) for appid, value in own.items()]
    others = kind.app_column.not_in(sorted(own)) | kind.app_column.is_(None) if own else None
    return [*scopes, (now - timedelta(days=days["*"]), others)]


def _purge_scope(kind: Kind, cutoff: datetime, scope: sa.ColumnElement[bool] | None) -> int:
    [key] = kind.table.primary_key.columns
    conditions = [kind.age_column < cutoff, *([scope] if scope is not None else [])]
    bound = db.session.execute(sa.select(sa.func.max(key)).where(*conditions)).scalar()
    end_read()
    purged, last, size = 0, None, BATCH
    while bound is not None:
        query = sa.select(key).where(*conditions, *kind.where(), key <= bound).order_by(key).limit(size)
        if last is not None:
            query = query.where(key > last)
        ids = list(db.session.scalars(query))
        end_read()
        if not ids:
            break
        started = time.monotonic()
        with work():
            done = db.session.execute(kind.act(ids)).rowcount
            _count(kind.name, done)
        size = next_size(size, time.monotonic() - started)
        metrics.record_purged(kind.name, done)
        purged += done
        last = ids[-1]
    return purged


def next_size(size: int, seconds: float) -> int:
    """The next batch's size after one of `size` rows took `seconds` (see BATCH_SECONDS)."""
    if seconds > BATCH_SECONDS:
        return min(BATCH, max(MIN_BATCH, size // 2))
    if seconds < BATCH_SECONDS / 4:
        return min(BATCH, size * 2)
    return size


def _count(kind: str, rows: int) -> None:
    """Add to the kind's total in retention_counts (inside the batch's transaction)."""
    if not rows:
        return
    table = RetentionCount.__table__
    insert = upsertable_insert(table).values(kind=kind, purged=rows, last_at=utcnow())
    db.session.execute(
        insert.on_conflict_do_update(
            index_elements=["kind"], set_={"purged": table.c.purged + insert.excluded.purged, "last_at": utcnow()}
        )
    )


def purge(now: datetime | None = None) -> dict[str, int]:
    """One run over every kind; {kind: rows purged}."""
    now = now or utcnow()
    purged = {}
    for kind in KINDS:
        purged[kind.name] = sum(_purge_scope(kind, cutoff, scope) for cutoff, scope in _scopes(kind, now))
    if any(purged.values()):
        log.info("retention purged", extra={"purged": purged})
    return purged


def claim_run(interval: float, now: datetime | None = None) -> bool:
    """True for the one process whose turn it is: the last run began `interval` seconds ago or more."""
    now = now or utcnow()
    table = RetentionCount.__table__
    try:
        with work():
            taken = db.session.execute(
                sa.update(table)
                .where(table.c.kind == RUN_KIND, table.c.last_at <= now - timedelta(seconds=interval))
                .values(last_at=now)
            ).rowcount
            if not taken and db.session.execute(sa.select(table.c.kind).where(table.c.kind == RUN_KIND)).first():
                return False
            if not taken:  # the first run ever
                db.session.execute(sa.insert(table).values(kind=RUN_KIND, purged=0, last_at=now))
    except sa.exc.IntegrityError:  # another process's first run, at the same moment
        return False
    return True


def purged_totals() -> dict[str, int]:
    """Rows purged so far, by kind (the dashboard's card)."""
    table = RetentionCount.__table__
    rows = db.session.execute(sa.select(table.c.kind, table.c.purged).where(table.c.kind != RUN_KIND)).all()
    totals = dict.fromkeys((kind.name for kind in KINDS), 0)
    totals.update({kind: int(purged) for kind, purged in rows})
    return totals


def run_if_due(interval: float) -> dict[str, int] | None:
    """A purge when it is this process's turn."""
    if not claim_run(interval):
        return None
    return purge()


def retain_forever(app: Flask, stop: threading.Event) -> None:
    """Every CHECK_INTERVAL, a purge if RETENTION_INTERVAL has passed since any process's last.

    A thread of its own beside the sweeper: a long purge never delays due scheduled messages.
    """
    interval = app.config["RETENTION_INTERVAL"]
    failing = False  # a database that is down is logged once
    while True:
        with app.app_context():
            try:
                run_if_due(interval)
                failing = False
            except Exception:
                if not failing:
                    log.exception("retention failed")
                failing = True
        if stop.wait(min(interval, CHECK_INTERVAL)):
            return
