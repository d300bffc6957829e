"""The one way a change is committed: `with work(): ...`.

A unit of work commits when its block ends cleanly and rolls back when it raises, so every
commit of the backend is visible at the call site of the command that makes it, and nothing
commits on the side (a read, a helper, the WeChat client). Units of work do not nest: a
function that opens one is a command, and a command does not call another command inside its
own transaction; the outer one would commit the inner one's writes at a moment the inner one
did not choose. Nesting raises `NestedWork`, so the mistake shows up in the tests.

Statements that must run alone, outside any unit of work (PostgreSQL autocommit: one round
trip instead of BEGIN, the statement and COMMIT), go through `db/autocommit.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from backend.extensions import db

_OPEN = "unit_of_work_open"  # in Session.info while a unit of work runs


class NestedWork(RuntimeError):
    """`work()` was entered inside another unit of work of the same session."""


@contextmanager
def work() -> Iterator[Session]:
    """Run the block as one transaction of the request's (or thread's) session: commit on a
    clean exit, roll back on any exception (re-raised). Reads made before the block, in the
    transaction the session began for them, are part of it."""
    session = db.session()
    if session.info.get(_OPEN):
        raise NestedWork("a unit of work is already open in this session: its owner commits")
    session.info[_OPEN] = True
    try:
        yield session
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            session.commit()  # else nothing was read or written in it (statements that ran alone)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_OPEN, None)


def end_read() -> None:
    """End a transaction that only read: it is rolled back (a read has nothing to commit), which
    returns its connection to the pool and releases SQLite's read snapshot."""
    db.session.rollback()
