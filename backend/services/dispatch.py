"""How queued batch messages reach a worker: RQ on Redis, or threads in this process.

The queue carries only message ids; the `Message` rows are the outbox, so a lost job
loses nothing (the sweeper queues its messages again). So is a job that could not be queued
because Redis is down: `enqueue` raises ServiceUnavailable, the messages stay `queued`, and
the sweeper queues them once Redis answers.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from backend.redis_link import RedisLink

log = logging.getLogger(__name__)

QUEUE_NAME = "wxsub-delivery"
CHUNK = 64  # ids per RQ job; a job delivers them with WORKER_THREADS threads
JOB_TIMEOUT = 3600


class InProcessDispatcher:
    """Without Redis: delivery threads in the web process, so one machine needs nothing else."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(app.config["WORKER_THREADS"], thread_name_prefix="wxsub-delivery")
        self._sweeper: threading.Thread | None = None

    def enqueue(self, ids: list[int]) -> None:
        from backend.jobs import deliver_in_context

        for message_id in ids:
            self.pool.submit(deliver_in_context, self.app, message_id)
        self.start_sweeper()

    def start_sweeper(self) -> None:
        """Recover lost work in the background (not under tests, which sweep explicitly)."""
        if self._sweeper is None and not self.app.config.get("TESTING"):
            from backend.jobs import sweep_forever

            self._sweeper = threading.Thread(target=sweep_forever, args=(self.app,), daemon=True, name="sweeper")
            self._sweeper.start()


class RQDispatcher:
    """With Redis: RQ jobs of message ids, run by `flask --app wsgi wx worker` on any machine."""

    def __init__(self, link: RedisLink) -> None:
        from rq import Queue

        self.link = link
        self.queue = Queue(QUEUE_NAME, connection=link.client)

    def enqueue(self, ids: list[int]) -> None:
        from rq import Queue

        jobs = [
            Queue.prepare_data(
                "backend.jobs.deliver_chunk",
                args=(ids[start : start + CHUNK],),
                timeout=JOB_TIMEOUT,
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
            )
            for start in range(0, len(ids), CHUNK)
        ]
        if jobs:
            self.link.call(lambda: self.queue.enqueue_many(jobs), None, "queue")


def build_dispatcher(app: Flask):
    link = app.extensions.get("redis")
    if link is not None:
        return RQDispatcher(link)
    return InProcessDispatcher(app)
