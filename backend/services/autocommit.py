"""PostgreSQL: the send path's single statements, each its own transaction, through the driver.

A send reserves (one statement: the credit, its audit row and the outbox row) and settles (one
UPDATE). Run in autocommit, a statement is its own atomic transaction: one round trip instead
of BEGIN, the statement and COMMIT. They go straight to psycopg on a pooled connection, because
SQLAlchemy's execution layer cost more CPU than the statements.
SQLite runs the same steps as Core statements in a session transaction (services/sending.py).
"""

from __future__ import annotations

import functools
from typing import Any

from psycopg.types.json import Json

from backend.extensions import db
from backend.models import Message

# Two reservations of one credit meet on the subscription's row lock; the second re-checks
# `remaining > 0` once the first commits (READ COMMITTED), as the conditional UPDATE alone does.
# Data-modifying CTEs always run to completion, referenced or not (the audit row).
RESERVE = """
WITH spent AS (
    UPDATE subscriptions SET remaining = remaining - 1, updated_at = %(now)s
    WHERE user_id = %(user_id)s AND template_id = %(template_id)s AND remaining > 0
    RETURNING remaining
), audit AS (
    INSERT INTO consent_events (user_id, template_id, source, result, credits_delta, created_at)
    SELECT %(user_id)s, %(template_id)s, 'send', 'spent', -1, %(now)s FROM spent
), message AS (
    INSERT INTO messages (public_id, user_id, openid, template_id, data, page, miniprogram_state, lang,
                          status, attempts, claimed_at, created_at, updated_at)
    SELECT %(public_id)s, %(user_id)s, %(openid)s, %(template_id)s, %(data)s, %(page)s, %(miniprogram_state)s,
           %(lang)s, %(status)s, 0, %(now)s, %(now)s, %(now)s
    FROM spent
    RETURNING id
)
SELECT message.id, spent.remaining FROM spent, message
"""

_MESSAGE_COLUMNS = frozenset(Message.__table__.c.keys())


def reserve(row: dict[str, Any], now) -> tuple[int, int] | None:
    """(message id, credits left), or None when the user has no credit left."""
    return run_alone(RESERVE, {**row, "data": Json(row["data"]), "now": now})


@functools.lru_cache(maxsize=64)
def _update_message(columns: tuple[str, ...]) -> str:
    unknown = set(columns) - _MESSAGE_COLUMNS
    if unknown:  # column names come from our code, never from a request; checked all the same
        raise ValueError(f"not columns of messages: {sorted(unknown)}")
    assignments = ", ".join(f"{column} = %({column})s" for column in columns)
    return f"UPDATE messages SET {assignments} WHERE id = %(message_id)s"  # noqa: S608 - names checked above


def update_message(message_id: int, changes: dict[str, Any]) -> None:
    run_alone(_update_message(tuple(sorted(changes))), {**changes, "message_id": message_id})


def run_alone(sql: str, params: dict[str, Any]) -> tuple | None:
    """Run one statement in autocommit on a pooled connection; its first row, if it returns rows."""
    pooled = db.engine.raw_connection()
    try:
        driver = pooled.driver_connection
        driver.autocommit = True
        try:
            cursor = driver.execute(sql, params)  # psycopg prepares it after a few uses (prepare_threshold)
            return cursor.fetchone() if cursor.description else None
        finally:
            if not driver.closed:
                driver.autocommit = False
    finally:
        pooled.close()  # back to the pool
