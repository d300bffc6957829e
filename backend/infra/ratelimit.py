"""Our own limits on incoming requests (`rate_limited`, 429).

- `check`: at most N requests a minute, in fixed one-minute windows (log-ins, reports).
- `attempt`: at most N failures in the last minute, a sliding window (the dashboard's
  password, binding codes): a guesser is held until their oldest failure is a minute old,
  however the guesses fall on the clock. Each guess is counted before it is checked, in one
  atomic step, and given back if it was right: concurrent guesses can't pass together.
  `check_failures` only looks.

Counted in Redis when REDIS_URL is set, so every process and machine shares one count; in
this process otherwise, and while Redis is down (each process then counts on its own). A
limit of 0 turns a check off.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import NamedTuple

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
    """The times of each key's failures in the last minute, each with its mark."""

    def __init__(self) -> None:
        self.times: dict[str, deque[tuple[float, str]]] = {}
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[tuple[float, str]]:
        if len(self.times) > MAX_KEYS:
            self.times = {k: v for k, v in self.times.items() if v and v[-1][0] > now - WINDOW_SECONDS}
        times = self.times.setdefault(key, deque())
        while times and times[0][0] <= now - WINDOW_SECONDS:
            times.popleft()
        return times

    def recent(self, key: str, now: float) -> tuple[int, float | None]:
        """How many failures in the minute before `now`, and the oldest's time."""
        with self.lock:
            times = self._recent(key, now)
            return len(times), (times[0][0] if times else None)

    def take(self, key: str, now: float, limit: int, mark: str) -> tuple[bool, int, float | None]:
        """Count one attempt as `mark` if fewer than `limit` are counted: (taken, count, oldest time)."""
        with self.lock:
            times = self._recent(key, now)
            if len(times) >= limit:
                return False, len(times), times[0][0]
            times.append((now, mark))
            return True, len(times), times[0][0]

    def give_back(self, key: str, mark: str) -> None:
        with self.lock:
            times = self.times.get(key)
            if times:
                self.times[key] = deque(entry for entry in times if entry[1] != mark)


# One script, so counting and comparing are one step for every process: a conditional ZADD.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  return {0, count, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, count + 1, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
"""


class RedisFailures:
    """A sorted set of failure times per key (member: the attempt's mark)."""

    def __init__(self, redis_client) -> None:
        self.redis = redis_client
        self.script = redis_client.register_script(_TAKE)

    def recent(self, key: str, now: float) -> tuple[int, float | None]:
        name = f"wxsub:failures:{key}"
        pipeline = self.redis.pipeline()
        pipeline.zremrangebyscore(name, "-inf", now - WINDOW_SECONDS)
        pipeline.zcard(name)
        pipeline.zrange(name, 0, 0, withscores=True)
        *_, count, oldest = pipeline.execute()
        return int(count), (oldest[0][1] if oldest else None)

    def take(self, key: str, now: float, limit: int, mark: str) -> tuple[bool, int, float | None]:
        since = repr(now - WINDOW_SECONDS)
        args = [since, repr(now), limit, mark, WINDOW_SECONDS + 1]
        taken, count, oldest = self.script(keys=[f"wxsub:failures:{key}"], args=args)
        return bool(taken), int(count), (float(oldest) if oldest else None)

    def give_back(self, key: str, mark: str) -> None:
        self.redis.zrem(f"wxsub:failures:{key}", mark)


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


def _held(count: int, oldest: float | None, now: float) -> RateLimited:
    retry_after = int((oldest or now) + WINDOW_SECONDS - now) + 1
    return RateLimited(
        "{count} failed attempts in the last minute; try again in {retry_after} s.",
        params={"count": count, "retry_after": retry_after},
        details={"retry_after": retry_after},
    )


def check_failures(scope: str, identity: str, limit: int) -> None:
    """RateLimited while `identity` has `limit` or more failures in `scope` in the last minute
    (a look only: what is not a guess, such as asking for the password, counts nothing)."""
    if limit <= 0:
        return
    now = time.time()
    count, oldest = _counter("rate_failures", LocalFailures, RedisFailures).recent(f"{scope}:{identity}", now)
    if count >= limit and oldest is not None:
        raise _held(count, oldest, now)


class Attempt(NamedTuple):
    """A guess counted before it was checked: a failure until `succeeded` gives it back."""

    scope: str
    identity: str
    mark: str | None  # None: the limit is off, nothing was counted
    count: int  # failures in the last minute, this one included

    def succeeded(self) -> None:
        if self.mark is not None:
            counter = _counter("rate_failures", LocalFailures, RedisFailures)
            counter.give_back(f"{self.scope}:{self.identity}", self.mark)


def attempt(scope: str, identity: str, limit: int) -> Attempt:
    """Count a guess of `identity` in `scope` as a failure *before* it is checked, in one atomic
    step with the comparison (a Redis script; a lock in the process): RateLimited, counting
    nothing, when `limit` failures are counted in the last minute. So concurrent guesses can't
    all pass a check made before any of them was counted: at most `limit` get checked. Call
    `succeeded()` on the answer when the guess was right."""
    if limit <= 0:
        return Attempt(scope, identity, None, 0)
    now = time.time()
    mark = f"{now!r}:{uuid.uuid4().hex[:12]}"
    counter = _counter("rate_failures", LocalFailures, RedisFailures)
    taken, count, oldest = counter.take(f"{scope}:{identity}", now, limit, mark)
    if not taken:
        raise _held(count, oldest, now)
    return Attempt(scope, identity, mark, count)
