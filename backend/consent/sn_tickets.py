"""Device subscribe messages: the `sn_ticket` a device popup needs (docs/wechat.md §11).

A ticket is valid 5 minutes for one (model_id, sn) and any user, so one is fetched from
getsnticket and handed out again while it has at least REUSE_MIN_LEFT seconds left: a
device's QR code scanned by a family at once costs one WeChat call, not one each.

One ticket per (app, model_id, sn) for every process: in Redis when REDIS_URL is set, in the
`sn_tickets` table otherwise and while Redis is down. One caller at a time fetches it: the
threads of a process take turns on a lock of the device, and the processes on a lease (a
Redis key set only if absent, or the row's `lease_until`), never held across more than
LEASE_SECONDS; the others wait for the ticket it stores. A lost store only costs another
getsnticket.
"""

from __future__ import annotations

import re
import threading
import time
import uuid

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import errors
from backend.apps import MiniProgram
from backend.db import work
from backend.db.work import end_read
from backend.extensions import db
from backend.infra.redis_link import current_link
from backend.models import SnTicket
from backend.wechat import errors as wx
from backend.wechat.device import SN_TICKET_TTL

# The user still has to read the page and tap after getting the ticket.
REUSE_MIN_LEFT = 60  # seconds
LEASE_SECONDS = 15.0  # one getsnticket with its retries; a holder that died is waited for this long at most
WAIT_STEP = 0.05  # seconds between looks at the store while another process fetches
PRUNE_AFTER = 86_400  # seconds: rows of tickets expired this long ago are deleted by the next fetch
# getsnticket's own rule for sn (§11a): at most 128 bytes of digits, letters, `_` and `-`.
MAX_SN_BYTES = 128
SN_CHARACTERS = re.compile(r"[0-9A-Za-z_-]+")
_DEVICE_LOCKS = [threading.Lock() for _ in range(64)]  # striped: a device's threads take turns

Key = tuple[str, str, str]  # (appid, model_id, sn)


class DatabaseTickets:
    """The tickets in the `sn_tickets` table, one row per device, each in a unit of work of its own."""

    table = SnTicket.__table__

    def _where(self, key: Key):
        appid, model_id, sn = key
        return sa.and_(self.table.c.app_id == appid, self.table.c.model_id == model_id, self.table.c.sn == sn)

    def get(self, key: Key, now: float) -> tuple[str, float] | None:
        end_read()  # a fresh read: SQLite's snapshot of an earlier read would not show another's ticket
        row = db.session.execute(
            sa.select(self.table.c.ticket, self.table.c.expires_at).where(self._where(key))
        ).first()
        end_read()
        return (row.ticket, row.expires_at) if row and row.ticket and row.expires_at > now else None

    def try_lease(self, key: Key, owner: str, now: float) -> bool:
        for attempt in range(2):
            with work() as session:
                taken = session.execute(
                    sa.update(self.table)
                    .where(self._where(key), self.table.c.lease_until < now)
                    .values(lease_owner=owner, lease_until=now + LEASE_SECONDS)
                ).rowcount
            if taken or attempt:
                return bool(taken)
            appid, model_id, sn = key
            try:
                with work() as session:
                    session.execute(sa.insert(self.table).values(app_id=appid, model_id=model_id, sn=sn))
            except IntegrityError:
                pass  # another process created it first
        return False

    def save(self, key: Key, owner: str, ticket: str, expires_at: float) -> None:
        with work() as session:
            session.execute(
                sa.update(self.table)
                .where(self._where(key), self.table.c.lease_owner == owner)
                .values(ticket=ticket, expires_at=expires_at, lease_owner=None, lease_until=0.0)
            )
            session.execute(  # devices no one asked about for a day
                sa.delete(self.table).where(
                    self.table.c.expires_at < time.time() - PRUNE_AFTER, self.table.c.lease_until < time.time()
                )
            )

    def release(self, key: Key, owner: str) -> None:
        with work() as session:
            session.execute(
                sa.update(self.table)
                .where(self._where(key), self.table.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0)
            )


class RedisTickets:
    """Shared tickets: one Redis string per device that expires with its ticket, and its lease beside it."""

    def __init__(self, redis_client) -> None:
        self.redis = redis_client

    @staticmethod
    def name(key: Key) -> str:
        appid, model_id, sn = key
        # model_id may hold ':'; its length keeps ("a:b", "c") and ("a", "b:c") apart.
        return f"wxsub:sn-ticket:{appid}:{len(model_id)}:{model_id}:{sn}"

    def get(self, key: Key, now: float) -> tuple[str, float] | None:
        pipeline = self.redis.pipeline()
        pipeline.get(self.name(key))
        pipeline.pttl(self.name(key))
        ticket, ttl_ms = pipeline.execute()
        if ticket is None or ttl_ms <= 0:
            return None
        return ticket.decode(), now + ttl_ms / 1000

    def try_lease(self, key: Key, owner: str, now: float) -> bool:
        return bool(self.redis.set(self.name(key) + ":lease", owner, nx=True, px=int(LEASE_SECONDS * 1000)))

    def save(self, key: Key, owner: str, ticket: str, expires_at: float) -> None:
        ttl_ms = max(1, int((expires_at - time.time()) * 1000))
        self.redis.set(self.name(key), ticket, px=ttl_ms)
        self.release(key, owner)

    def release(self, key: Key, owner: str) -> None:
        lease = self.name(key) + ":lease"
        if self.redis.get(lease) == owner.encode():  # a lease that lapsed may be another's now
            self.redis.delete(lease)


def _tickets():
    app = current_app
    if "sn_tickets" not in app.extensions:
        link = current_link()
        shared = DatabaseTickets()
        app.extensions["sn_tickets"] = (
            shared if link is None else link.with_fallback(RedisTickets(link.client), shared, "sn_tickets")
        )
    return app.extensions["sn_tickets"]


def _check_sn(sn: str) -> None:
    """Refuse what getsnticket would refuse (9800001, 9800002) without calling it."""
    if len(sn.encode()) > MAX_SN_BYTES:
        raise _invalid_device("sn", f"at most {MAX_SN_BYTES} bytes")
    if not SN_CHARACTERS.fullmatch(sn):
        raise _invalid_device("sn", "only digits, letters, '_' and '-'")


def _invalid_device(field: str, reason: str, errcode: int | None = None) -> errors.InvalidRequest:
    details: dict[str, object] = {field: reason}
    if errcode is not None:
        details["errcode"] = errcode
    return errors.InvalidRequest("WeChat does not accept this device's {field}.", details, 422, params={"field": field})


def sn_ticket(mini_program: MiniProgram, model_id: str, sn: str) -> tuple[str, int]:
    """A valid ticket for (model_id, sn) of this app and the whole seconds it has left: the one
    every process shares, fetched by one caller at a time when there is none."""
    _check_sn(sn)
    key = (mini_program.client.appid, model_id, sn)
    tickets = _tickets()
    owner = uuid.uuid4().hex
    with _DEVICE_LOCKS[hash(key) % len(_DEVICE_LOCKS)]:
        deadline = time.monotonic() + 2 * LEASE_SECONDS
        while True:
            now = time.time()
            cached = tickets.get(key, now)
            if cached is not None and cached[1] - now >= REUSE_MIN_LEFT:
                return cached[0], int(cached[1] - now)
            if tickets.try_lease(key, owner, now) or time.monotonic() > deadline:
                break
            time.sleep(WAIT_STEP)  # another process is fetching it
        try:
            ticket, expires_at = _fetch(mini_program, model_id, sn)
        except BaseException:
            tickets.release(key, owner)
            raise
        tickets.save(key, owner, ticket, expires_at)
    return ticket, int(expires_at - time.time())


def _fetch(mini_program: MiniProgram, model_id: str, sn: str) -> tuple[str, float]:
    """A new ticket from getsnticket and when it expires; WeChat's refusals as the API's errors."""
    asked_at = time.time()  # WeChat's 5 minutes start no earlier than the call
    try:
        ticket = mini_program.client.device.sn_ticket(model_id, sn)
    except wx.InvalidDevice as exc:  # 9800001 / 9800002 sn, 9800003 model_id (§11a)
        raise _invalid_device(exc.field, "refused by WeChat", exc.errcode) from None
    except wx.QuotaExceeded as exc:  # 45009 / 45011
        raise errors.RateLimited(details={"errcode": exc.errcode}) from None
    except wx.WeChatError as exc:  # -1 after retries, 48001 device ability off, time-outs
        raise errors.WeChatUnavailable(details={"errcode": exc.errcode} if exc.errcode else {}) from None
    return ticket, asked_at + SN_TICKET_TTL
