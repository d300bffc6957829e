"""WeChat's daily quota of `subscribe/send` per app (docs/wechat.md §15), read rarely and shared.

The quota API is itself limited, so its answer is kept in `api_quotas` (one row per app, every
process reads it) and read again at most once per READ_EVERY: the process that finds the row
older than that takes a short lease (one conditional UPDATE) and calls WeChat; the others keep
answering the row they have, or, when there is none yet, wait for the reader's. Many requests
at once make one call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from backend import errors
from backend.apps import MiniProgram
from backend.consent.ledger import upsertable_insert
from backend.db import end_read, work
from backend.extensions import db
from backend.models import ApiQuota, utcnow
from backend.wechat import errors as wx

log = logging.getLogger(__name__)

READ_EVERY = timedelta(minutes=10)
LEASE_SECONDS = 30.0  # a reader that died lets another read after this
WAIT_FOR_FIRST_READ = 5.0  # seconds a request waits for another's first read of an app
LOW_SHARE = 0.10  # `wx doctor` warns below this share of the daily limit

_quotas = ApiQuota.__table__


@dataclass(frozen=True)
class Quota:
    daily_limit: int | None
    used: int | None
    remain: int | None
    read_at: datetime | None

    @property
    def low(self) -> bool:
        """Less than LOW_SHARE of the day's limit left."""
        return bool(self.daily_limit) and self.remain is not None and self.remain < LOW_SHARE * self.daily_limit


def stored(app_id: str) -> Quota | None:
    """The last answer read for the app, whatever its age (no WeChat call); None: never read."""
    row = db.session.execute(sa.select(_quotas).where(_quotas.c.app_id == app_id)).first()
    end_read()
    if row is None or row.read_at is None:
        return None
    read_at = row.read_at if row.read_at.tzinfo else row.read_at.replace(tzinfo=UTC)
    return Quota(row.daily_limit, row.used, row.remain, read_at)


def current(mini_program: MiniProgram) -> Quota:
    """The app's quota, read from WeChat when the stored one is older than READ_EVERY (by one
    process at a time); raises WeChatUnavailable when it was never read and WeChat fails."""
    app_id = mini_program.appid
    known = stored(app_id)
    if known is not None and utcnow() - known.read_at < READ_EVERY:
        return known
    if not _take_lease(app_id):
        return known or _wait_for_first_read(app_id)
    try:
        fresh = mini_program.client.quota.get()
    except wx.WeChatError as exc:
        _release(app_id)
        if known is not None:
            return known  # stale, and says when it was read
        raise errors.WeChatUnavailable(details={"errcode": getattr(exc, "errcode", None)}) from None
    now = utcnow()
    with work():
        db.session.execute(
            sa.update(_quotas)
            .where(_quotas.c.app_id == app_id)
            .values(daily_limit=fresh.daily_limit, used=fresh.used, remain=fresh.remain, read_at=now, lease_until=0.0)
        )
    return Quota(fresh.daily_limit, fresh.used, fresh.remain, now)


def _take_lease(app_id: str) -> bool:
    """The right to read WeChat's quota for the app now: one process at a time, and only while
    the stored answer is older than READ_EVERY (another may have read it meanwhile)."""
    now = time.time()
    stale = utcnow() - READ_EVERY
    with work():
        db.session.execute(
            upsertable_insert(_quotas)
            .values(app_id=app_id, lease_until=0.0)
            .on_conflict_do_nothing(index_elements=["app_id"])
        )
        taken = db.session.execute(
            sa.update(_quotas)
            .where(
                _quotas.c.app_id == app_id,
                _quotas.c.lease_until < now,
                sa.or_(_quotas.c.read_at.is_(None), _quotas.c.read_at < stale),
            )
            .values(lease_until=now + LEASE_SECONDS)  # cleared by the reader's write
        ).rowcount
    return bool(taken)


def _release(app_id: str) -> None:
    with work():
        db.session.execute(sa.update(_quotas).where(_quotas.c.app_id == app_id).values(lease_until=0.0))


def _wait_for_first_read(app_id: str) -> Quota:
    deadline = time.monotonic() + WAIT_FOR_FIRST_READ
    while time.monotonic() < deadline:
        time.sleep(0.05)
        known = stored(app_id)
        if known is not None:
            return known
    raise errors.WeChatUnavailable()


def refresh_all() -> None:
    """Every app's quota read again where it is older than READ_EVERY (the sweeper's: /metrics
    and the dashboard then show a figure at most that old). A failure leaves the old figure."""
    for mini_program in current_app.extensions["apps"]:
        try:
            current(mini_program)
        except errors.ApiError:
            log.warning("quota not read", extra={"appid": mini_program.appid})
