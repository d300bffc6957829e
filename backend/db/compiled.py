"""Statements SQLAlchemy would compile on every execution, compiled once.

SQLAlchemy 2.0 keeps compiled statements in a cache keyed by each statement's structure, but
some statements have no key and are compiled again on every execution: the dialects' INSERT …
ON CONFLICT (an upsert) and any multi-row VALUES. Compiling one costs more CPU than running it
(on SQLite a report's grant spent most of its time there). `CompiledOnce` compiles such a
statement once per database dialect and runs it through the connection as SQLAlchemy runs any
statement: parameters and rows converted by the columns' types, the engine's events fired
(the SQLite writer gate, db/sqlite.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from backend.db import transactions

MAX_DIALECTS = 8  # one per engine in a process; tests make many


class CompiledOnce:
    """A Core statement whose values are all bind parameters, compiled once per dialect."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[Any, Any] = {}

    def run(self, connection: Connection, params: dict[str, Any]) -> CursorResult:
        """Run on `connection` (in its transaction)."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect)
        if compiled is None:
            if len(self._compiled) >= MAX_DIALECTS:
                self._compiled.clear()
            compiled = self._compiled[dialect] = self.statement.compile(dialect=dialect)
        return connection.execute(compiled, params)

    def run_in(self, session: Session, params: dict[str, Any]) -> CursorResult:
        """Run in the session's transaction, where it counts as the session's write."""
        result = self.run(session.connection(), params)
        transactions.mark_written(session)
        return result
