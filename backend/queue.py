"""The delivery queue: it carries message ids to whoever delivers them, and nothing else.

- With Redis: RQ jobs of up to CHUNK ids on `wxsub-delivery`, run by
  `flask --app wsgi wx worker` processes on any machine.
- Without Redis: the same jobs, run by a thread of the web process, so one machine needs
  nothing else.

Both run `services.delivery.deliver_ids` with WORKER_THREADS delivery threads: one claim code,
whichever way the ids travelled. The `Message` rows are the outbox, so a lost job loses
nothing (the sweep queues its messages again). So is a job that could not be queued because
Redis is down: `enqueue` raises ServiceUnavailable, the messages stay `queued`, and the sweep
queues them once Redis answers.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from backend.redis_link import RedisLink
from backend.services import delivery

log = logging.getLogger(__name__)

QUEUE_NAME = "wxsub-delivery"
CHUNK = 64  # ids per job; a job claims and sends them WORKER_THREADS at a time
JOB_TIMEOUT = 3600


def _jobs(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


class ThreadQueue:
    """Without Redis: one thread runs the jobs in turn, as one worker would, with a pool of
    WORKER_THREADS delivery threads."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.runner = ThreadPoolExecutor(1, thread_name_prefix="wxsub-queue")
        self.pool = ThreadPoolExecutor(app.config["WORKER_THREADS"], thread_name_prefix="wxsub-delivery")
        self._sweeper: threading.Thread | None = None

    def enqueue(self, ids: list[int]) -> None:
        for job in _jobs(ids):
            # A failure is logged by deliver_ids; its messages stay `queued` for the sweep.
            self.runner.submit(delivery.deliver_ids, self.app, job, self.pool)
        self.start_sweeper()

    def start_sweeper(self) -> None:
        """Recover lost work in the background (not under tests, which sweep explicitly)."""
        if self._sweeper is None and not self.app.config.get("TESTING"):
            self._sweeper = threading.Thread(target=sweep_forever, args=(self.app,), daemon=True, name="sweeper")
            self._sweeper.start()


class RQQueue:
    """With Redis: RQ jobs of message ids, run by `flask --app wsgi wx worker` on any machine."""

    def __init__(self, link: RedisLink) -> None:
        from rq import Queue

        self.link = link
        self.queue = Queue(QUEUE_NAME, connection=link.client)

    def enqueue(self, ids: list[int]) -> None:
        from rq import Queue

        jobs = [
            Queue.prepare_data(
                "backend.queue.deliver_chunk",
                args=(job,),
                timeout=JOB_TIMEOUT,
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
            )
            for job in _jobs(ids)
        ]
        if jobs:
            self.link.call(lambda: self.queue.enqueue_many(jobs), None, "queue")


def build_queue(app: Flask) -> ThreadQueue | RQQueue:
    link = app.extensions.get("redis")
    if link is not None:
        return RQQueue(link)
    return ThreadQueue(app)


# -- in a worker process (`flask wx worker`) ----------------------------------------------

# The app of this worker process, set by `flask wx worker`; created on first use otherwise.
_app: Flask | None = None
_pool: ThreadPoolExecutor | None = None


def use_app(app: Flask) -> None:
    global _app
    _app = app


def worker_app() -> Flask:
    global _app
    if _app is None:
        from backend import create_app

        _app = create_app()
    return _app


def deliver_chunk(ids: list[int]) -> None:
    """The RQ job: deliver these messages (a failure leaves the job failed in RQ; the sweep
    queues what it left `queued`). Jobs queued before 2026-12 name `backend.jobs.deliver_chunk`."""
    global _pool
    app = worker_app()
    if _pool is None:
        _pool = ThreadPoolExecutor(app.config["WORKER_THREADS"], thread_name_prefix="wxsub-job")
    delivery.deliver_ids(app, ids, _pool)


def sweep_forever(app: Flask) -> None:
    """Every SWEEP_INTERVAL seconds: requeue lost messages, mark abandoned sends unknown."""
    while True:
        time.sleep(app.config["SWEEP_INTERVAL"])
        with app.app_context():
            try:
                delivery.sweep()
            except Exception:
                log.exception("sweep failed")
