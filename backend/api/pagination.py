"""Cursor pagination by id: the cursor is opaque to callers (base64 of the last id seen)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import request

from backend.errors import InvalidRequest
from backend.extensions import db

PAGE_SIZE = 100
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL


def _decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        last_id = int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        last_id = -1
    if not 0 <= last_id <= MAX_ID:  # a crafted number would overflow the id column: a 500
        raise InvalidRequest(details={"cursor": "is not a cursor this API gave"})
    return last_id


def paginate(query: sa.Select, id_column, render: Callable[[Any], dict]) -> dict:
    """`{"items": [...], "next_cursor": str | None}` for the page after the request's `cursor`."""
    query = query.where(id_column > _decode(request.args.get("cursor"))).order_by(id_column).limit(PAGE_SIZE + 1)
    page: Sequence[Any] = db.session.scalars(query).all()
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    last = page[-1].id if more else None
    return {
        "items": [render(row) for row in page],
        "next_cursor": base64.urlsafe_b64encode(str(last).encode()).decode() if last is not None else None,
    }
