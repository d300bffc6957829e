"""`flask --app wsgi wx keys rotate`: every sealed value and every look-up hash under the current DATA_KEY.

After `DATA_KEY` changes (the old key moved to `DATA_KEYS_OLD`), rows sealed under the old key
still open and are still found (backend/users/personal.py tries the old keys' hashes), but the old
key cannot be retired until each of them is sealed again. This walks every table of SEALED by its
primary key, BATCH rows per transaction (a send waits for at most one short batch), opens each
sealed value under whichever key sealed it, seals it again under the current key, and recomputes
each hash from the opened values. A row already current is left alone, so a second run (or a run
after an interruption) changes nothing it did.

A new sealed column is one entry of SEALED: its table, its sealed columns, and for each hash
column the text it hashes (from the row's opened values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend.db.work import work
from backend.extensions import db
from backend.infra.data_keys import DataKeys
from backend.models import AuthorizedApp, User
from backend.users.phones import to_e164

BATCH = 1000

Row = Mapping[str, str | None]


@dataclass(frozen=True)
class SealedTable:
    """The sealed columns of one table, and the hash columns computed from their opened values."""

    table: sa.Table
    sealed: tuple[str, ...]
    # hash column -> the text it is the hash of, given the row with its sealed values opened
    hashes: Mapping[str, Callable[[Row], str | None]] = field(default_factory=dict)
    clear: tuple[str, ...] = ()  # columns in clear the hashes need


SEALED: tuple[SealedTable, ...] = (
    SealedTable(
        User.__table__,
        ("phone_number", "pure_phone_number", "session_key"),
        hashes={"phone_hash": lambda row: to_e164(row["phone_number"], row["country_code"])},
        clear=("country_code",),
    ),
    # A third-party platform's merchant apps: the refresh token is the only durable copy (component/).
    SealedTable(AuthorizedApp.__table__, ("refresh_token",)),
)


@dataclass
class Counts:
    rows: int = 0  # rows read
    resealed: int = 0  # values sealed again under the current key
    rehashed: int = 0  # hashes written again under the current key


def _pages(table: sa.Table, columns: list[sa.Column]) -> Iterator[list[sa.Row]]:
    """The table's rows, BATCH at a time in primary-key order: each page is read in its own transaction."""
    [key] = table.primary_key.columns
    last = None
    while True:
        query = sa.select(key, *columns).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = db.session.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _changes(spec: SealedTable, keys: DataKeys, row: sa.Row, counts: Counts) -> dict[str, str | None]:
    """The values of the row to write again; empty when it is current already."""
    changes: dict[str, str | None] = {}
    opened: dict[str, str | None] = {name: getattr(row, name) for name in spec.clear}
    for name in spec.sealed:
        value = getattr(row, name)
        opened[name] = keys.open_optional(value)
        if value is not None and keys.needs_rotation(value):
            changes[name] = keys.seal(opened[name])
            counts.resealed += 1
    for name, source in spec.hashes.items():
        text = source(opened)
        wanted = keys.lookup_hash(text) if text else None
        if getattr(row, name) != wanted:
            changes[name] = wanted
            counts.rehashed += 1
    return changes


def rotate(keys: DataKeys) -> dict[str, Counts]:
    """Re-seal and re-hash every table of SEALED; {table name: counts}."""
    result = {}
    for spec in SEALED:
        counts = Counts()
        table = spec.table
        [key] = table.primary_key.columns
        columns = [table.c[name] for name in (*spec.sealed, *spec.hashes, *spec.clear)]
        for rows in _pages(table, columns):
            with work():
                for row in rows:
                    counts.rows += 1
                    changes = _changes(spec, keys, row, counts)
                    if changes:
                        # Only if nobody wrote the row since it was read (a new phone number, a new
                        # log-in): what they wrote was sealed under the current key already.
                        unchanged = [table.c[name].is_not_distinct_from(getattr(row, name)) for name in spec.sealed]
                        db.session.execute(sa.update(table).where(key == row[0], *unchanged).values(**changes))
        result[table.name] = counts
    return result
