"""Our own limits on incoming requests (`rate_limited`, 429): fixed one-minute windows.

Counted in Redis when REDIS_URL is set, so every process and machine shares one count;
in this process otherwise. A limit of 0 turns a check off.
"""

from __future__ import annotations

import threading
import time

from flask import current_app

from backend.errors import RateLimited

WINDOW_SECONDS = 60


class LocalWindows:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.lock = threading.Lock()

    def hit(self, key: str, window: int) -> int:
        with self.lock:
            if len(self.counts) > 10_000:  # forget windows that have passed
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


def _windows():
    app = current_app
    if "rate_windows" not in app.extensions:
        if app.config.get("REDIS_URL"):
            import redis

            app.extensions["rate_windows"] = RedisWindows(redis.Redis.from_url(app.config["REDIS_URL"]))
        else:
            app.extensions["rate_windows"] = LocalWindows()
    return app.extensions["rate_windows"]


def check(scope: str, identity: str, limit: int) -> None:
    """Count one request of `identity` in `scope`; RateLimited past `limit` a minute."""
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    if _windows().hit(f"{scope}:{identity}", window) > limit:
        retry_after = int((window + 1) * WINDOW_SECONDS - now) + 1
        raise RateLimited(
            "More than {limit} requests a minute; try again in {retry_after} s.",
            params={"limit": limit, "retry_after": retry_after},
            details={"retry_after": retry_after},
        )
