"""The ledger: the only place where credits move (docs/design.md, "The ledger").

Four moves, each with its audit row (`consent_events`) in the same transaction, each set-based
(the same statements for one user or a thousand):

- `grant`: record users' popup choices; each one-time `accept` adds a credit (when minting);
- `spend`: one credit less for each user who has one left;
- `refund`: one credit back, for a send that surely did not reach WeChat;
- `zero`: credits to 0 (a change event, a 43101), the audit row saying how many went.

A credit moves in SQL (`remaining = remaining - 1 WHERE remaining > 0`), never read-modify-write,
so two processes can never spend one credit. The moves run in the caller's unit of work
(`with work():`, backend/db/work.py), which commits; nothing here commits. On PostgreSQL the
send's two steps, `reserve` and `settle`, and a report's `grant` run alone in autocommit when
nothing else is to be written with them (db/autocommit.py): a statement that is its own
transaction. A send's reserve and settle may carry a `Rider` (the recipient's send lease).

Where PostgreSQL and SQLite differ, the difference is chosen once, when the app starts
(`init_app`), and services reach it through `current()`: `PostgresLedger` writes a move and its
audit row in one statement (a data-modifying CTE), and reserves and settles a send in single
statements in autocommit; `SqliteLedger` runs the same steps as statements of the session's
transaction.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.db import autocommit, compiled
from backend.extensions import db
from backend.models import ConsentEvent, Message, Subscription, User, utcnow
from backend.ops import metrics
from backend.states import EventResult, EventSource, SubscriptionStatus, TemplateKind

_subscriptions = Subscription.__table__
_events = ConsentEvent.__table__
_messages = Message.__table__
_USERS = _subscriptions.c.user_id.in_(sa.bindparam("users", expanding=True))
# Parameter names are not column names: SQLAlchemy keeps those for the SET and VALUES clauses.
_TEMPLATE = _subscriptions.c.template_id == sa.bindparam("template")


def _take_one(users: sa.ColumnElement[bool]) -> sa.Update:
    """The credit rule: one credit less where one is left. The single conditional UPDATE is what
    keeps two processes from spending one credit (the second waits for the first's row lock and
    then finds `remaining > 0` false)."""
    return (
        sa.update(_subscriptions)
        .where(_TEMPLATE, users, _subscriptions.c.remaining > 0)
        .values(remaining=_subscriptions.c.remaining - 1, updated_at=sa.bindparam("now"))
        .returning(_subscriptions.c.user_id, _subscriptions.c.remaining, _subscriptions.c.app_id)
    )


_SPEND = _take_one(_USERS)
# A refund goes to one-time subscriptions only: a long-term one counts nothing.
_REFUND = (
    sa.update(_subscriptions)
    .where(_TEMPLATE, _USERS, _subscriptions.c.kind == TemplateKind.ONE_TIME)
    .values(remaining=_subscriptions.c.remaining + 1, updated_at=sa.bindparam("now"))
    .returning(_subscriptions.c.user_id, _subscriptions.c.remaining, _subscriptions.c.app_id)
)
_ACCEPTED = sa.select(_subscriptions.c.user_id).where(
    _TEMPLATE, _USERS, _subscriptions.c.status == SubscriptionStatus.ACCEPT
)
_BEFORE_ZERO = (
    sa.select(_subscriptions.c.user_id, _subscriptions.c.remaining).where(_TEMPLATE, _USERS).with_for_update()
)
_ZERO = (
    sa.update(_subscriptions)
    .where(_TEMPLATE, _USERS)
    .values(remaining=0, status=SubscriptionStatus.REJECT, updated_at=sa.bindparam("now"))
)
_INSERT_EVENTS = sa.insert(_events)
_INSERT_MESSAGE = sa.insert(_messages).returning(_messages.c.id)
_UPDATE_MESSAGE = sa.update(_messages).where(_messages.c.id == sa.bindparam("message_id"))
# The audit row of a move, one per user the move's RETURNING names (PostgreSQL's CTE form); its
# app is the subscription's, so a move needs no app of its own (a user id is of one app).
_EVENT_COLUMNS = ("app_id", "user_id", "template_id", "source", "result", "credits_delta", "detail", "created_at")
# Every column of an audit row as `_event` writes it.
_EVENT_ROW = (*_EVENT_COLUMNS, "scene", "dedupe_key")


@dataclass(frozen=True)
class Choice:
    """One template's answer in a popup, with the template's kind."""

    template_id: str
    kind: str
    status: str


class Rider(Protocol):
    """What a database may write in the same statement as a send's reserve and settle, for that
    send: the recipient's turn (sending/send_lock.py, leases in PostgreSQL). The statements
    depend on `shape` only; the values are `params()`."""

    shape: Hashable

    def on_reserve(self, spent: sa.CTE) -> sa.CTE:
        """A CTE writing for the row `spent` names (none when no credit was spent), RETURNING one column."""

    def on_settle(self) -> sa.CTE:
        """A CTE written with the settle."""

    def params(self) -> dict[str, Any]: ...

    def reserved(self, value: Any) -> None:
        """What `on_reserve` returned (None: no row)."""

    def settled(self) -> None: ...


class Ledger:
    """The moves as statements of the session's transaction: SQLite's form, and the base of all."""

    def insert(self, table) -> sa.Insert:
        """An INSERT with this database's ON CONFLICT clauses."""
        raise NotImplementedError

    # -- the four moves ----------------------------------------------------------------------

    def grant(
        self,
        app_id: str,
        user_id: int,
        choices: Sequence[Choice],
        *,
        source: str,
        scene: str | None = None,
        mint: bool = True,
        dedupe_key: str | None = None,
        alone: bool = False,
    ) -> list[sa.Row]:
        """Record these choices of one user of `app_id` (one row per template, created if missing), and add a
        credit for each one-time `accept` when `mint`; the subscriptions as they are now.

        `mint=False` (a client report while pushes are the authority) records the report in
        `client_status` and moves nothing. The same statements for any number of templates: two
        on SQLite, one on PostgreSQL. `alone`: nothing else is to be written with it, so a database
        may commit it by itself (PostgreSQL: one statement in autocommit).
        """
        now = utcnow()
        from_client = source == EventSource.CLIENT
        deltas = [
            int(mint and c.status == SubscriptionStatus.ACCEPT and c.kind == TemplateKind.ONE_TIME) for c in choices
        ]
        events = [
            _event(
                app_id,
                user_id,
                choice.template_id,
                source,
                choice.status,
                now,
                delta,
                scene=scene,
                dedupe_key=dedupe_key,
            )
            for choice, delta in zip(choices, deltas, strict=True)
        ]
        subscriptions = [
            {
                "app_id": app_id,
                "user_id": user_id,
                "template_id": choice.template_id,
                "kind": choice.kind,
                "status": choice.status,
                "remaining": delta,
                "client_status": choice.status if from_client else None,
                "client_reported_at": now if from_client else None,
                "created_at": now,
                "updated_at": now,
            }
            for choice, delta in zip(choices, deltas, strict=True)
        ]
        rows = self._grant(events, subscriptions, now, mint=mint, from_client=from_client, alone=alone)
        if not alone:
            _note(app_id, EventResult.ACCEPT, sum(deltas))
        elif any(deltas):  # committed already: counted now
            metrics.record_credits(app_id, CREDIT_CHANGES[EventResult.ACCEPT], sum(deltas))
        return rows

    def _grant(
        self,
        events: list[dict[str, Any]],
        subscriptions: list[dict[str, Any]],
        now: datetime,
        *,
        mint: bool,
        from_client: bool,
        alone: bool,
    ) -> list[sa.Row]:
        # Compiled once per shape: an upsert (and a multi-row VALUES) is never in SQLAlchemy's cache.
        audit, upsert = _sqlite_grant_statements(len(subscriptions), mint, from_client)
        params = _grant_params(subscriptions, events, now)
        session = db.session()
        # The audit rows first: a replayed push (its dedupe key taken) fails there, before anything moved.
        audit.run_in(session, params)
        return upsert.run_in(session, params).all()

    def spend(self, template_id: str, user_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, int]:
        """One credit less for each of these users who has one left: {user id: credits left}."""
        moved = self._move(_SPEND, template_id, user_ids, EventResult.SPENT, -1, None, now)
        return {row.user_id: row.remaining for row in moved}

    def refund(self, template_id: str, user_ids: Iterable[int], *, detail: dict | None = None) -> set[int]:
        """One credit back for each of these users' one-time subscriptions; the users refunded."""
        return {row.user_id for row in self._move(_REFUND, template_id, user_ids, EventResult.REFUNDED, 1, detail)}

    def zero(
        self,
        app_id: str,
        template_id: str,
        user_ids: Iterable[int],
        *,
        kind: str,
        source: str,
        dedupe_key: str | None = None,
        detail: dict | None = None,
    ) -> dict[int, int]:
        """Credits to 0 and status `reject` (rows created if missing, with `kind`); {user id: credits dropped}."""
        now = utcnow()
        users = sorted(set(user_ids))
        params = {"template": template_id, "users": users, "now": now}
        missing = [
            {
                "app_id": app_id,
                "user_id": user_id,
                "template_id": template_id,
                "kind": kind,
                "status": SubscriptionStatus.REJECT,
                "remaining": 0,
                "created_at": now,
                "updated_at": now,
            }
            for user_id in users
        ]
        db.session.execute(
            self.insert(_subscriptions)
            .values(missing)
            .on_conflict_do_nothing(index_elements=["user_id", "template_id"])
        )
        # Locked (PostgreSQL: FOR UPDATE; SQLite: the write transaction), so the count is the one zeroed.
        dropped = dict(db.session.execute(_BEFORE_ZERO, params).all())
        _insert_events(
            _event(
                app_id,
                user_id,
                template_id,
                source,
                EventResult.REVOKED,
                now,
                -dropped.get(user_id, 0),
                dedupe_key,
                detail,
            )
            for user_id in users
        )
        db.session.execute(_ZERO, params)
        _note(app_id, EventResult.REVOKED, sum(dropped.values()))
        return dropped

    def accepted(self, template_id: str, user_ids: Iterable[int]) -> set[int]:
        """The users whose standing answer to the template is `accept` (a long-term send's consent; a read)."""
        params = {"template": template_id, "users": sorted(set(user_ids))}
        return set(db.session.execute(_ACCEPTED, params).scalars())

    def _move(
        self,
        update: sa.Update,
        template_id: str,
        user_ids: Iterable[int],
        result: str,
        delta: int,
        detail: dict | None,
        now: datetime | None = None,
    ) -> list[sa.Row]:
        """Run a move for these users with an audit row for each user it moved; (user id, credits left) each."""
        params = {"template": template_id, "users": sorted(set(user_ids)), "now": now or utcnow()}
        moved = self._run_move(update, params, result, delta, detail)
        for app_id, count in Counter(row.app_id for row in moved).items():
            _note(app_id, result, count)
        return moved

    def _run_move(self, update: sa.Update, params: dict[str, Any], result: str, delta: int, detail) -> list[sa.Row]:
        moved = db.session.execute(update, params).all()
        template_id, now = params["template"], params["now"]
        _insert_events(
            _event(row.app_id, row.user_id, template_id, EventSource.SEND, result, now, delta, detail=detail)
            for row in moved
        )
        return moved

    # -- a send's two steps ----------------------------------------------------------------

    def reserve(
        self, row: dict[str, Any], *, kind: str, alone: bool, rider: Rider | None = None
    ) -> tuple[int, int | None] | None:
        """A send's consent and its message row: (message id, credits left; None for long-term),
        or None without consent. One-time: one credit spent. Long-term: allowed while the
        user's answer is `accept`, nothing moves.

        In the session's transaction, which the caller commits. `alone`: nothing else is to be
        written with it (no Idempotency-Key), so a database may commit it by itself. A database
        may write `rider` in the same statement (told with `rider.reserved`; untold, it was not
        written).
        """
        user_id, template_id = row["user_id"], row["template_id"]
        if kind == TemplateKind.ONE_TIME:
            left = self.spend(template_id, [user_id], now=row["created_at"]).get(user_id)
            if left is None:
                return None
        elif user_id in self.accepted(template_id, [user_id]):
            left = None
        else:
            return None
        return db.session.execute(_INSERT_MESSAGE, row).scalar_one(), left

    def settle(self, message_id: int, changes: dict[str, Any], rider: Rider | None = None) -> None:
        """Write a message's outcome (one UPDATE by id) in the caller's unit of work, with whatever
        else it holds; a database that commits it alone may write `rider` with it (`rider.settled`)."""
        db.session.execute(_UPDATE_MESSAGE, {"message_id": message_id, **changes})


class SqliteLedger(Ledger):
    def insert(self, table) -> sa.Insert:
        return sqlite.insert(table)


class PostgresLedger(Ledger):
    """One statement where SQLite needs several: a move and its audit rows are one CTE; a send's
    reserve (credit, audit row, message row) and settle run alone in autocommit, one round trip
    each instead of BEGIN, the statement and COMMIT (db/autocommit.py)."""

    def __init__(self) -> None:
        self._with_audit = {update: _with_audit_rows(update) for update in (_SPEND, _REFUND)}
        self._reserve = autocommit.Prepared(_RESERVE)
        self._reserve_with: dict[Hashable, autocommit.Prepared] = {}  # by rider shape

    def insert(self, table) -> sa.Insert:
        return postgresql.insert(table)

    def _grant(
        self,
        events: list[dict[str, Any]],
        subscriptions: list[dict[str, Any]],
        now: datetime,
        *,
        mint: bool,
        from_client: bool,
        alone: bool,
    ) -> list[sa.Row]:
        # One statement fails or succeeds whole: a replayed push's dedupe key undoes its upsert too.
        # Compiled once per shape: a multi-row VALUES is never in SQLAlchemy's statement cache.
        grant = _grant_statement(len(subscriptions), mint, from_client)
        params = _grant_params(subscriptions, events, now)
        if alone:
            return grant.rows_alone(params)  # committed: its own transaction
        return grant.rows_in(db.session(), params)

    def _run_move(self, update: sa.Update, params: dict[str, Any], result: str, delta: int, detail) -> list[sa.Row]:
        audit = {"event_source": EventSource.SEND, "event_result": result, "delta": delta, "event_detail": detail}
        return db.session.execute(self._with_audit[update], {**params, **audit}).all()

    def reserve(
        self, row: dict[str, Any], *, kind: str, alone: bool, rider: Rider | None = None
    ) -> tuple[int, int | None] | None:
        if kind != TemplateKind.ONE_TIME:
            return super().reserve(row, kind=kind, alone=alone)
        params = {
            **row,
            "template": row["template_id"],
            "user": row["user_id"],
            "now": row["created_at"],
            "event_source": EventSource.SEND,
            "event_result": EventResult.SPENT,
        }
        statement = self._reserve
        if rider is not None:
            statement = self._reserve_with.get(rider.shape)
            if statement is None:
                statement = self._reserve_with[rider.shape] = autocommit.Prepared(_reserve_statement(rider))
            params.update(rider.params())
        if alone:
            reserved = statement.run_alone(params)  # committed: its own transaction
        else:  # a statement of the caller's unit (with the Idempotency-Key's record): rolled back with it
            rows = statement.rows_in(db.session(), params)
            reserved = tuple(rows[0]) if rows else None
        if reserved is None:
            return None
        if rider is not None:
            rider.reserved(reserved[2])  # not alone: taken if the unit commits (else given back for nothing)
            reserved = reserved[:2]
        if alone:
            metrics.record_credits(row["app_id"], CREDIT_CHANGES[EventResult.SPENT])
        else:
            _note(row["app_id"], EventResult.SPENT, 1)
        return reserved

    def settle(self, message_id: int, changes: dict[str, Any], rider: Rider | None = None) -> None:
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            super().settle(message_id, changes)  # a refund or a revocation goes with it
            return
        columns = tuple(sorted(changes))
        if rider is None:
            _message_update(columns).run_alone({**changes, "message_id": message_id})
        else:
            _message_update(columns, rider).run_alone({**changes, "message_id": message_id, **rider.params()})
            rider.settled()


def _with_audit_rows(update: sa.Update) -> sa.Select:
    """WITH moved AS (the UPDATE … RETURNING), audit AS (INSERT one event per moved row) SELECT moved.
    Data-modifying CTEs run to completion whether or not the outer SELECT reads them."""
    moved = update.cte("moved")
    audit = sa.insert(_events).from_select(
        _EVENT_COLUMNS,
        sa.select(
            moved.c.app_id,
            moved.c.user_id,
            sa.bindparam("template", type_=_events.c.template_id.type),
            sa.bindparam("event_source", type_=_events.c.source.type),
            sa.bindparam("event_result", type_=_events.c.result.type),
            sa.bindparam("delta", type_=_events.c.credits_delta.type),
            sa.bindparam("event_detail", type_=_events.c.detail.type),
            sa.bindparam("now", type_=_events.c.created_at.type),
        ),
    )
    return sa.select(moved.c.user_id, moved.c.remaining, moved.c.app_id).add_cte(audit.cte("audit"))


def _grant_upsert(insert, subscriptions: list[dict[str, Any]], now: Any, *, mint: bool, from_client: bool) -> sa.Insert:
    """The grant's upsert: one row per template, created if missing; RETURNING every column."""
    upsert = insert(_subscriptions).values(subscriptions)
    new = upsert.excluded
    changes = {"kind": new.kind, "remaining": _subscriptions.c.remaining + new.remaining, "updated_at": now}
    if mint:
        changes["status"] = new.status
    if from_client:
        changes.update(client_status=new.client_status, client_reported_at=new.client_reported_at)
    upsert = upsert.on_conflict_do_update(index_elements=["user_id", "template_id"], set_=changes)
    return upsert.returning(*_subscriptions.c)


_SUBSCRIPTION_COLUMNS = (
    "app_id",
    "user_id",
    "template_id",
    "kind",
    "status",
    "remaining",
    "client_status",
    "client_reported_at",
    "created_at",
    "updated_at",
)


def _grant_params(subscriptions: list[dict[str, Any]], events: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The grant statements' parameters: `s{i}_{column}` for the i-th subscription, `e{i}_{column}`
    for its audit row, `now`."""
    params: dict[str, Any] = {"now": now}
    for i, (subscription, event) in enumerate(zip(subscriptions, events, strict=True)):
        params.update({f"s{i}_{name}": value for name, value in subscription.items()})
        params.update({f"e{i}_{name}": value for name, value in event.items()})
    return params


def _binds(prefix: str, table: sa.Table, columns: Iterable[str]) -> dict[str, sa.BindParameter]:
    return {name: sa.bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}


def _grant_rows(count: int) -> tuple[list[dict[str, sa.BindParameter]], list[dict[str, sa.BindParameter]]]:
    """The bind parameters of `count` subscriptions and of their audit rows."""
    subscriptions = [_binds(f"s{i}", _subscriptions, _SUBSCRIPTION_COLUMNS) for i in range(count)]
    return subscriptions, [_binds(f"e{i}", _events, _EVENT_ROW) for i in range(count)]


_GRANT_NOW = sa.bindparam("now", type_=_subscriptions.c.updated_at.type)


@functools.lru_cache(maxsize=64)
def _grant_statement(count: int, mint: bool, from_client: bool) -> autocommit.Prepared:
    """PostgreSQL's grant of `count` templates, with its audit rows as a CTE, compiled once
    (parameters: `_grant_params`)."""
    subscriptions, events = _grant_rows(count)
    upsert = _grant_upsert(postgresql.insert, subscriptions, _GRANT_NOW, mint=mint, from_client=from_client)
    return autocommit.Prepared(upsert.add_cte(sa.insert(_events).values(events).cte("audit")))


@functools.lru_cache(maxsize=64)
def _sqlite_grant_statements(
    count: int, mint: bool, from_client: bool
) -> tuple[compiled.CompiledOnce, compiled.CompiledOnce]:
    """SQLite's grant of `count` templates, compiled once: the audit rows' INSERT, then the upsert
    (parameters: `_grant_params`)."""
    subscriptions, events = _grant_rows(count)
    upsert = _grant_upsert(sqlite.insert, subscriptions, _GRANT_NOW, mint=mint, from_client=from_client)
    return compiled.CompiledOnce(sa.insert(_events).values(events)), compiled.CompiledOnce(upsert)


def _reserve_statement(rider: Rider | None = None) -> sa.Select:
    """A one-time send's reserve as one statement: the credit rule for one user, its audit row and
    the message row, each written only if the credit was there; and `rider`'s CTE (a third column)."""
    spent = _take_one(_subscriptions.c.user_id == sa.bindparam("user")).cte("spent")
    # The message's values under their column names: psycopg runs it, not SQLAlchemy (db/autocommit.py).
    row_columns = [c for c in _messages.c if c.name not in ("id", "user_id")]
    message = (
        sa.insert(_messages)
        .from_select(
            ["user_id", *(c.name for c in row_columns)],
            sa.select(spent.c.user_id, *(sa.bindparam(c.name, type_=c.type) for c in row_columns)),
        )
        .returning(_messages.c.id)
        .cte("message")
    )
    audit = sa.insert(_events).from_select(
        ["app_id", "user_id", "template_id", "source", "result", "credits_delta", "created_at"],
        sa.select(
            spent.c.app_id,
            spent.c.user_id,
            sa.bindparam("template", type_=_events.c.template_id.type),
            sa.bindparam("event_source", type_=_events.c.source.type),
            sa.bindparam("event_result", type_=_events.c.result.type),
            sa.literal(-1),
            sa.bindparam("now", type_=_events.c.created_at.type),
        ),
    )
    columns = [message.c.id, spent.c.remaining]
    if rider is not None:
        ridden = rider.on_reserve(spent)
        columns.append(sa.select(*ridden.c).scalar_subquery())
    return sa.select(*columns).select_from(spent.join(message, sa.true())).add_cte(audit.cte("audit"))


_RESERVE = _reserve_statement()
_message_updates: dict[tuple, autocommit.Prepared] = {}


def _message_update(columns: tuple[str, ...], rider: Rider | None = None) -> autocommit.Prepared:
    key = (columns, rider.shape if rider is not None else None)
    prepared = _message_updates.get(key)
    if prepared is None:
        update = _UPDATE_MESSAGE.values({column: sa.bindparam(column) for column in columns})
        if rider is not None:
            update = update.add_cte(rider.on_settle())
        prepared = _message_updates[key] = autocommit.Prepared(update)
    return prepared


# -- choosing one, once ----------------------------------------------------------------------

_BY_DATABASE = {"postgresql": PostgresLedger, "sqlite": SqliteLedger}


def init_app(app: Flask) -> None:
    """Choose the ledger for the app's database, once, at start-up."""
    backend = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    if backend not in _BY_DATABASE:
        raise ValueError(f"the ledger runs on PostgreSQL or SQLite, not {backend!r}")
    app.extensions["ledger"] = _BY_DATABASE[backend]()


def current() -> Ledger:
    return current_app.extensions["ledger"]


def upsertable_insert(table) -> sa.Insert:
    """INSERT with ON CONFLICT support, for the app's database."""
    return current().insert(table)


# -- rows that are not moves -----------------------------------------------------------------


def ensure_user(app_id: str, openid: str, **fields) -> User:
    """The user of `app_id` with this openid, created if missing (logins and pushes race on new openids)."""
    now = utcnow()
    db.session.execute(
        upsertable_insert(User)
        .values(app_id=app_id, openid=openid, token_version=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["app_id", "openid"])
    )
    user = db.session.execute(sa.select(User).where(User.app_id == app_id, User.openid == openid)).scalar_one()
    for name, value in fields.items():
        if value is not None:
            setattr(user, name, value)
    return user


def record_events(
    app_id: str,
    user_ids: Iterable[int | None],
    template_id: str | None,
    source: str,
    result: str,
    *,
    scene: str | None = None,
    dedupe_key: str | None = None,
    detail: dict | None = None,
) -> None:
    """Audit rows that move no credit (a push ignored, a delivery reported), one INSERT for all."""
    now = utcnow()
    _insert_events(
        _event(app_id, user_id, template_id, source, result, now, 0, dedupe_key, detail, scene=scene)
        for user_id in user_ids
    )


def _event(
    app_id: str,
    user_id: int | None,
    template_id: str | None,
    source: str,
    result: str,
    now: datetime,
    credits_delta: int,
    dedupe_key: str | None = None,
    detail: dict | None = None,
    *,
    scene: str | None = None,
) -> dict[str, Any]:
    """One audit row (`consent_events`), every column named: one INSERT takes many."""
    return {
        "app_id": app_id,
        "user_id": user_id,
        "template_id": template_id,
        "source": source,
        "result": result,
        "scene": scene,
        "credits_delta": credits_delta,
        "dedupe_key": dedupe_key,
        "detail": detail,
        "created_at": now,
    }


def _insert_events(rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        db.session.execute(_INSERT_EVENTS, rows if len(rows) > 1 else rows[0])


# -- credit metrics: what was committed --------------------------------------------------------

CREDIT_CHANGES = {
    EventResult.ACCEPT: "granted",
    EventResult.SPENT: "spent",
    EventResult.REFUNDED: "refunded",
    EventResult.REVOKED: "revoked",
}


def _note(app_id: str, result: str, amount: int) -> None:
    """Count a move of `app_id`'s credits once its transaction commits. Called after the move's
    last statement that can fail, so a move undone with its savepoint (a push replay) was never noted."""
    if amount:
        db.session.info.setdefault("credit_moves", []).append((app_id, result, amount))


@sa.event.listens_for(Session, "after_commit")
def _count_committed_credits(session: Session) -> None:
    for appid, result, amount in session.info.pop("credit_moves", []):
        metrics.record_credits(appid, CREDIT_CHANGES.get(result, "other"), amount)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back_credits(session: Session) -> None:
    session.info.pop("credit_moves", None)
