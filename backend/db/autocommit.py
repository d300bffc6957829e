"""PostgreSQL: a statement run alone, in autocommit, straight through the driver.

Run in autocommit, a statement is its own atomic transaction: one round trip instead of BEGIN,
the statement and COMMIT. The send's reserve and settle (consent/ledger.py, PostgresLedger) go
this way, on a pooled connection and straight to psycopg, because SQLAlchemy's execution layer
cost more CPU than the statements. The statements themselves are SQLAlchemy Core, compiled once
here for psycopg: the rules are written once, in the ledger.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from backend.db import transactions
from backend.extensions import db

_DIALECT = postgresql.psycopg.dialect()


class Prepared:
    """A Core statement compiled once for psycopg; run with its parameters by name."""

    def __init__(self, statement: sa.Executable) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = compiled.string
        # Values the statement carries itself (the 1 of `remaining - 1`), under their generated names.
        self.constants = {name: value for name, value in compiled.params.items() if value is not None}
        self.json_params = frozenset(
            name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON) and name in compiled.params
        )

    def values(self, params: dict[str, Any]) -> dict[str, Any]:
        values = {**self.constants, **params}
        for name in self.json_params:
            values[name] = Json(values.get(name))  # None too: JSON null, as SQLAlchemy writes it
        return values

    def run_alone(self, params: dict[str, Any]) -> tuple | None:
        """Run in autocommit on a pooled connection; the first row, if the statement returns rows."""
        return run_alone(self.sql, self.values(params))

    def rows_alone(self, params: dict[str, Any]) -> list:
        """Run in autocommit on a pooled connection; every row it returns, by column name."""
        return run_alone(self.sql, self.values(params), every_row=True)

    def rows_in(self, session: Session, params: dict[str, Any]) -> list[sa.Row]:
        """Run in the session's transaction, not compiled again; every row it returns. Errors are
        SQLAlchemy's, as for any statement of the session, and it counts as the session's write."""
        rows = session.connection().exec_driver_sql(self.sql, self.values(params)).all()
        transactions.mark_written(session)
        return rows


def run_alone(sql: str, params: dict[str, Any], *, every_row: bool = False) -> Any:
    """Run one statement in autocommit on a pooled connection; its first row, if it returns rows
    (`every_row`: all of them, as named tuples)."""
    pooled = db.engine.raw_connection()
    try:
        driver = pooled.driver_connection
        driver.autocommit = True
        try:
            if every_row:
                with driver.cursor(row_factory=namedtuple_row) as cursor:
                    return cursor.execute(sql, params).fetchall()
            cursor = driver.execute(sql, params)  # psycopg prepares it after a few uses (prepare_threshold)
            return cursor.fetchone() if cursor.description else None
        finally:
            if not driver.closed:
                driver.autocommit = False
    finally:
        pooled.close()  # back to the pool
