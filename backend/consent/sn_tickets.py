"""Device subscribe messages: the `sn_ticket` a device popup needs (docs/wechat.md §11).

A ticket is valid 5 minutes for one (model_id, sn) and any user, so one is fetched from
getsnticket and handed out again while it has at least REUSE_MIN_LEFT seconds left: a
device's QR code scanned by a family at once costs one WeChat call, not one each. Tickets
are kept in Redis when REDIS_URL is set (every process and machine shares them), in this
process otherwise and while Redis is down. A lost cache only costs another getsnticket.
"""

from __future__ import annotations

import re
import threading
import time

from flask import current_app

from backend import errors
from backend.apps import MiniProgram
from backend.infra.redis_link import current_link
from backend.wechat import errors as wx
from backend.wechat.device import SN_TICKET_TTL

# The user still has to read the page and tap after getting the ticket.
REUSE_MIN_LEFT = 60  # seconds
MAX_LOCAL_TICKETS = 10_000  # per-process tickets kept before the expired ones are dropped
# getsnticket's own rule for sn (§11a): at most 128 bytes of digits, letters, `_` and `-`.
MAX_SN_BYTES = 128
SN_CHARACTERS = re.compile(r"[0-9A-Za-z_-]+")

Key = tuple[str, str, str]  # (appid, model_id, sn)


class LocalTickets:
    """This process's tickets: key → (ticket, expires_at as time.time())."""

    def __init__(self) -> None:
        self.tickets: dict[Key, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def get(self, key: Key, now: float) -> tuple[str, float] | None:
        with self.lock:
            found = self.tickets.get(key)
        return found if found is not None and found[1] > now else None

    def put(self, key: Key, ticket: str, expires_at: float, now: float) -> None:
        with self.lock:
            if len(self.tickets) >= MAX_LOCAL_TICKETS:
                self.tickets = {k: v for k, v in self.tickets.items() if v[1] > now}
            self.tickets[key] = (ticket, expires_at)


class RedisTickets:
    """Shared tickets: one Redis string per device that expires with its ticket."""

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

    def put(self, key: Key, ticket: str, expires_at: float, now: float) -> None:
        self.redis.set(self.name(key), ticket, px=max(1, int((expires_at - now) * 1000)))


def _tickets():
    app = current_app
    if "sn_tickets" not in app.extensions:
        link = current_link()
        local = LocalTickets()
        app.extensions["sn_tickets"] = (
            local if link is None else link.with_fallback(RedisTickets(link.client), local, "sn_tickets")
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
    """A valid ticket for (model_id, sn) of this app and the whole seconds it has left."""
    _check_sn(sn)
    client = mini_program.client
    key = (client.appid, model_id, sn)
    tickets = _tickets()
    now = time.time()
    cached = tickets.get(key, now)
    if cached is not None and cached[1] - now >= REUSE_MIN_LEFT:
        return cached[0], int(cached[1] - now)
    asked_at = time.time()  # WeChat's 5 minutes start no earlier than the call
    try:
        ticket = client.device.sn_ticket(model_id, sn)
    except wx.InvalidDevice as exc:  # 9800001 / 9800002 sn, 9800003 model_id (§11a)
        raise _invalid_device(exc.field, "refused by WeChat", exc.errcode) from None
    except wx.QuotaExceeded as exc:  # 45009 / 45011
        raise errors.RateLimited(details={"errcode": exc.errcode}) from None
    except wx.WeChatError as exc:  # -1 after retries, 48001 device ability off, time-outs
        raise errors.WeChatUnavailable(details={"errcode": exc.errcode} if exc.errcode else {}) from None
    expires_at = asked_at + SN_TICKET_TTL
    tickets.put(key, ticket, expires_at, time.time())
    return ticket, int(expires_at - time.time())
