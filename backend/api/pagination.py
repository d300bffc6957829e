"""Cursor pagination by id: the cursor is opaque to callers (base64 of the last id seen).

The boundary's half: the request's cursor becomes the id a page starts after, and a page's
last id becomes `next_cursor`. The query itself is the service's (e.g. backend/sending/queries.py).
"""

from __future__ import annotations

import base64

from flask import request

from backend.errors import InvalidRequest

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


def requested_page() -> tuple[int, int]:
    """(the id the page starts after, the page's size) for the request's `cursor`."""
    return _decode(request.args.get("cursor")), PAGE_SIZE


def encode_cursor(last_id: int | None) -> str | None:
    """The `next_cursor` of a page whose next one starts after `last_id` (None: the last page)."""
    return base64.urlsafe_b64encode(str(last_id).encode()).decode() if last_id is not None else None
