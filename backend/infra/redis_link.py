"""The process's one connection to Redis, and what every use of it does while Redis is down.

Redis holds what can be done without for a while (the shared access token, rate-limit
counters, the send pace, the batch queue); the database holds everything that must not be
lost. So an outage never fails a request with a 500: each use runs through `RedisLink.call`
with a fallback (the database, this process's own counters), or, where there is none, the
request is refused with 503 `service_unavailable` and `Retry-After`.

Nothing waits long for a Redis that is gone: the client has short time-outs and makes no
retries of its own, and after a failure the link counts as down for `REDIS_RETRY_AFTER`
seconds, during which calls go straight to their fallback instead of each paying for a
connection attempt (no retry storm while Redis restarts). The outage is logged once, then
at most once a minute while it lasts, with the server's address but never its password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from backend.errors import REDIS_DOWN_ERRORS, ServiceUnavailable
from backend.ops import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_EVERY = 60.0  # seconds between two log lines about one outage


class RedisLink:
    """A Redis client and its memory of the last failure."""

    def __init__(self, url: str, *, timeout: float = 1.0, retry_after: float = 5.0) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self.address = redacted_address(url)
        self.retry_after = retry_after
        self._down_until = 0.0  # time.monotonic()
        self._outage_logged_at: float | None = None  # set while an outage lasts
        self._suppressed = 0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """Whether Redis failed less than `retry_after` seconds ago."""
        return time.monotonic() < self._down_until

    def call(self, action: Callable[[], T], fallback: Callable[[], T] | None, use: str) -> T:
        """`action()` against Redis; `fallback()` when Redis is down (ServiceUnavailable without one)."""
        if not self.down:
            try:
                result = action()
            except REDIS_DOWN_ERRORS as exc:
                self._failed(exc, use)
            else:
                self._answered()
                return result
        metrics.record_redis_fallback(use)
        if fallback is None:
            raise ServiceUnavailable(details={"retry_after": max(1, round(self.retry_after))})
        return fallback()

    def answers(self) -> bool:
        """Whether Redis answers a PING (without trying while it counts as down)."""
        return self.call(lambda: bool(self.client.ping()), lambda: False, "health")

    def with_fallback(self, primary: Any, fallback: Any, use: str) -> WithFallback:
        """`primary`'s methods while Redis answers, `fallback`'s methods of the same name while it doesn't."""
        return WithFallback(self, primary, fallback, use)

    def note_failure(self, exc: Exception, use: str) -> None:
        """A failure met outside `call` (a subscription): Redis counts as down for everyone, logged once."""
        self._failed(exc, use)

    def _failed(self, exc: Exception, use: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + self.retry_after
            if self._outage_logged_at is not None and now - self._outage_logged_at < LOG_EVERY:
                self._suppressed += 1
                return
            first = self._outage_logged_at is None
            self._outage_logged_at, suppressed, self._suppressed = now, self._suppressed, 0
        # The error's text names the host at most; the address is logged without credentials.
        log.error(
            "redis unavailable" if first else "redis still unavailable",
            extra={"redis": self.address, "error": type(exc).__name__, "use": use, "failures_not_logged": suppressed},
        )

    def _answered(self) -> None:
        if self._outage_logged_at is None:  # the usual case: no outage, no lock
            return
        with self._lock:
            was_down, self._outage_logged_at = self._outage_logged_at is not None, None
        if was_down:  # another thread may have said so first
            log.warning("redis answers again", extra={"redis": self.address})


class WithFallback:
    """An object whose method calls go to `primary` through the link, or to `fallback`."""

    def __init__(self, link: RedisLink, primary: Any, fallback: Any, use: str) -> None:
        self.link, self.primary, self.fallback, self.use = link, primary, fallback, use

    def __getattr__(self, name: str) -> Callable[..., Any]:
        primary, fallback = getattr(self.primary, name), getattr(self.fallback, name)

        def method(*args: Any, **kwargs: Any) -> Any:
            return self.link.call(lambda: primary(*args, **kwargs), lambda: fallback(*args, **kwargs), self.use)

        return method


def redacted_address(url: str) -> str:
    """`host:port/db` of a Redis URL, without user name or password (for logs)."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path if parts.hostname else ''}"


def build_link(app: Flask) -> RedisLink | None:
    """The app's link, or None without REDIS_URL."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    return RedisLink(url, timeout=app.config["REDIS_TIMEOUT"], retry_after=app.config["REDIS_RETRY_AFTER"])


def current_link() -> RedisLink | None:
    """The current app's link to Redis, or None when REDIS_URL is not set."""
    return current_app.extensions.get("redis")
