"""A ceiling on WeChat send calls per second across all workers, and a pause after 45009 / -1.

With Redis: a token bucket in Redis shared by every worker process and machine; without:
one in this process. `WX_SEND_RATE` (calls per second, 0 for no ceiling) sets the rate.

While Redis is down each worker paces itself with a bucket of its own at that rate. It
can't see the other workers, but it gets no new work either (the queue is in Redis): only
what a worker already holds (one RQ job: `CHUNK` messages, backend/delivery/queue.py) goes out on its own
pace, and a 45009 / 45011 from WeChat still pauses that worker and queues the message
again with its credit back. Refusing to send instead would leave claimed messages
`sending` until the sweeper made them `unknown`.
"""

from __future__ import annotations

import threading
import time

from flask import current_app

from backend.infra.redis_link import current_link

BACKOFF_SECONDS = 2.0

# KEYS[1] bucket hash; ARGV: rate, burst, now (s, float). Returns seconds to wait (0: go).
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
if paused > now then return tostring(paused - now) end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or tostring(burst))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp') or tostring(now))
tokens = math.min(burst, tokens + (now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], 60)
return tostring(wait)
"""


class LocalBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.stamp = time.monotonic()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def take(self) -> float:
        with self.lock:
            now = time.monotonic()
            if self.paused_until > now:
                return self.paused_until - now
            self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class RedisBucket:
    def __init__(self, redis_client, rate: float, key: str = "wxsub:pace") -> None:
        self.redis = redis_client
        self.rate = rate
        self.key = key
        self._take = redis_client.register_script(_TAKE)

    def take(self) -> float:
        return float(self._take(keys=[self.key], args=[self.rate, max(self.rate, 1.0), time.time()]))

    def pause(self, seconds: float) -> None:
        self.redis.hset(self.key, "paused_until", repr(time.time() + seconds))


def _bucket():
    app = current_app
    bucket = app.extensions.get("pace")
    if bucket is None:
        rate = app.config["WX_SEND_RATE"]
        if rate <= 0:
            bucket = None
        elif (link := current_link()) is not None:
            bucket = link.with_fallback(RedisBucket(link.client, rate), LocalBucket(rate), "send_pace")
        else:
            bucket = LocalBucket(rate)
        app.extensions["pace"] = bucket or False
    return bucket or None


def acquire() -> None:
    """Wait for this worker's turn to call WeChat."""
    bucket = _bucket()
    while bucket is not None:
        wait = bucket.take()
        if wait <= 0:
            return
        time.sleep(min(wait, 1.0))


def back_off(seconds: float = BACKOFF_SECONDS) -> None:
    """WeChat said 45009 / 45011 / -1: every worker pauses for a moment."""
    bucket = _bucket()
    if bucket is not None:
        bucket.pause(seconds)
    else:
        time.sleep(seconds)
