"""Our own limits on incoming requests (`rate_limited`, 429).

- `check`: at most N requests a minute, in fixed one-minute windows (log-ins, reports).
- `check_failures` / `count_failure`: at most N failures in the last minute, a sliding
  window (the dashboard's password): a guesser is held until their oldest failure is a
  minute old, however the guesses fall on the clock.

Counted in Redis when REDIS_URL is set, so every process and machine shares one count; in
this process otherwise, and while Redis is down (each process then counts on its own). A
limit of 0 turns a check off.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque

from flask import current_app

from backend.errors import RateLimited
from backend.infra.redis_link import current_link

WINDOW_SECONDS = 60
MAX_KEYS = 10_000  # per-process counts kept before the stale ones are dropped


class LocalWindows:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.lock = threading.Lock()

    def hit(self, key: str, window: int) -> int:
        with self.lock:
            if len(self.counts) > MAX_KEYS:  # forget windows that have passed
                self.counts = {k: v for k, v in self.counts.items() if k[1] >= window}
            self.counts[(key, window)] = self.counts.get((key, window), 0) + 1
            return self.counts[(key, window)]


class RedisWindows:
    def __init__(self, redis_client) -> None:
        self.redis = redis_client

    def hit(self, key: str, window: int) -> int:
        name = f"wxsub:rate:{key}:{window}"
        pipeline = self.redis.pipeline()
        pipeline.incr(name)
        pipeline.expire(name, WINDOW_SECONDS * 2)
        return int(pipeline.execute()[0])


class LocalFailures:
    """The times of each key's failures in the last minute."""

    def __init__(self) -> None:
        self.times: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def recent(self, key: str, now: float, add: bool = False) -> tuple[int, float | None]:
        """How many failures in the minute before `now` (counting this one if `add`), and the oldest's time."""
        with self.lock:
            if len(self.times) > MAX_KEYS:
                self.times = {k: v for k, v in self.times.items() if v and v[-1] > now - WINDOW_SECONDS}
            times = self.times.setdefault(key, deque())
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            if add:
                times.append(now)
            return len(times), (times[0] if times else None)


class RedisFailures:
    """A sorted set of failure times per key."""

    def __init__(self, redis_client) -> None:
        self.redis = redis_client

    def recent(self, key: str, now: float, add: bool = False) -> tuple[int, float | None]:
        name = f"wxsub:failures:{key}"
        pipeline = self.redis.pipeline()
        if add:
            pipeline.zadd(name, {f"{now!r}:{uuid.uuid4().hex[:8]}": now})
            pipeline.expire(name, WINDOW_SECONDS + 1)
        pipeline.zremrangebyscore(name, "-inf", now - WINDOW_SECONDS)
        pipeline.zcard(name)
        pipeline.zrange(name, 0, 0, withscores=True)
        *_, count, oldest = pipeline.execute()
        return int(count), (oldest[0][1] if oldest else None)


def _counter(name: str, local: type, shared: type):
    """The app's counter `name`: in Redis (this process's own while Redis is down), or local."""
    app = current_app
    if name not in app.extensions:
        link = current_link()
        if link is None:
            app.extensions[name] = local()
        else:
            app.extensions[name] = link.with_fallback(shared(link.client), local(), "rate_limits")
    return app.extensions[name]


def check(scope: str, identity: str, limit: int) -> None:
    """Count one request of `identity` in `scope`; RateLimited past `limit` a minute."""
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    if _counter("rate_windows", LocalWindows, RedisWindows).hit(f"{scope}:{identity}", window) > limit:
        retry_after = int((window + 1) * WINDOW_SECONDS - now) + 1
        raise RateLimited(
            "More than {limit} requests a minute; try again in {retry_after} s.",
            params={"limit": limit, "retry_after": retry_after},
            details={"retry_after": retry_after},
        )


def check_failures(scope: str, identity: str, limit: int) -> None:
    """RateLimited while `identity` has `limit` or more failures in `scope` in the last minute."""
    if limit <= 0:
        return
    now = time.time()
    count, oldest = _counter("rate_failures", LocalFailures, RedisFailures).recent(f"{scope}:{identity}", now)
    if count >= limit and oldest is not None:
        retry_after = int(oldest + WINDOW_SECONDS - now) + 1
        raise RateLimited(
            "{count} failed attempts in the last minute; try again in {retry_after} s.",
            params={"count": count, "retry_after": retry_after},
            details={"retry_after": retry_after},
        )


def count_failure(scope: str, identity: str) -> int:
    """Record one failure of `identity` in `scope`; how many it has in the last minute."""
    count, _ = _counter("rate_failures", LocalFailures, RedisFailures).recent(f"{scope}:{identity}", time.time(), True)
    return count
