"""No transaction is held across a WeChat call, and none is committed behind its owner's back.

A WeChat call takes up to the read time-out: a transaction held across it would keep its
row locks (PostgreSQL) or the writer lock (SQLite) that long. Services end their transactions
before they call WeChat (docs/design.md). The client's `before_call` hook checks it: a
transaction that has only read is ended (its commit writes nothing); one that has written
raises `WritesPending`, so a forgotten commit shows up as a bug instead of being committed
silently at a moment its owner did not choose.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import has_app_context

from backend.extensions import db

_WROTE = "wrote"
_READ_ONLY_SQL = re.compile(
    r"\s*(SELECT|PRAGMA\s+\w+\s*$)", re.IGNORECASE
)  # in Session.info: this transaction has written


class WritesPending(RuntimeError):
    """A WeChat call was made while the caller's transaction held writes it had not committed."""


def track_writes() -> None:
    """Remember, per session, whether its open transaction has written (ORM flushes and DML)."""
    if sa.event.contains(db.session, "after_flush", _mark_written):
        return  # every app of the process shares the one scoped session
    sa.event.listen(db.session, "after_flush", _mark_written)
    sa.event.listen(db.session, "do_orm_execute", _mark_dml)
    sa.event.listen(db.session, "after_transaction_end", _forget)


def _mark_written(session, _flush_context=None) -> None:
    session.info[_WROTE] = True


mark_written = _mark_written  # a write the ORM does not see (db/autocommit.py, Prepared.rows_in)


def _mark_dml(state) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True
    elif isinstance(statement, sa.TextClause) and not _READ_ONLY_SQL.match(statement.text):
        state.session.info[_WROTE] = True  # raw SQL: anything but a plain SELECT counts as a write


def _forget(session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (commit or rollback)
        session.info.pop(_WROTE, None)


def end_read_before_wechat() -> None:
    """The WeChat client's `before_call`: end a read-only transaction; refuse one with writes."""
    if not has_app_context():
        return
    session = db.session()
    if not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
        raise WritesPending("a WeChat call inside a transaction with uncommitted writes: commit them first")
    session.commit()  # it only read: nothing is written, and loaded objects stay loaded
