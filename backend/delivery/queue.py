"""The delivery queue: it carries message ids to whoever delivers them, and nothing else.

- With Redis: RQ jobs of up to CHUNK ids on `wxsub-delivery`, run by
  `flask --app wsgi wx worker` processes on any machine.
- Without Redis: the same jobs, run by a thread of the web process, so one machine needs
  nothing else.

Both run `delivery/outbox.py` `deliver_ids` with WORKER_THREADS delivery threads: one claim code,
whichever way the ids travelled. The `Message` rows are the outbox, so a lost job loses
nothing (the sweep queues its messages again). So is a job that could not be queued because
Redis is down: `enqueue` raises ServiceUnavailable, the messages stay `queued`, and the sweep
queues them once Redis answers.

Scheduled messages (`send_at`) wait as `scheduled` rows until the due-scanner
(`delivery/due.py`) queues them; it runs every DUE_SCAN_INTERVAL in the same
thread as the sweep: in every `flask wx worker`, and in the web process without Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from backend.delivery import due, outbox
from backend.infra.redis_link import RedisLink
from backend.ops import quota, retention

log = logging.getLogger(__name__)

QUEUE_NAME = "wxsub-delivery"
CHUNK = 64  # ids per job; a job claims and sends them WORKER_THREADS at a time
JOB_TIMEOUT = 3600
# The job RQ runs, by the dotted path that stays put whatever moves (backend/jobs.py).
JOB_FUNCTION = "backend.jobs.deliver_chunk"
# Seconds between two looks for due scheduled messages: one indexed query, so a message is
# queued well within 2 s of its send_at (docs/api.md).
DUE_SCAN_INTERVAL = 0.5
# Seconds between two looks for held messages whose pair has a credit (consent/held.py's
# safety net): a held message is released within 10 s of its credit, usually at once.
HELD_SCAN_INTERVAL = 2.0


def _jobs(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


class ThreadQueue:
    """Without Redis: one thread runs the jobs in turn, as one worker would, with a pool of
    WORKER_THREADS delivery threads. Ids queued while a job runs make one next job (up to
    CHUNK): asynchronous sends, queued one at a time, are delivered WORKER_THREADS at a time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.runner = ThreadPoolExecutor(1, thread_name_prefix="wxsub-queue")
        self.pool = ThreadPoolExecutor(app.config["WORKER_THREADS"], thread_name_prefix="wxsub-delivery")
        self._waiting: list[int] = []  # ids queued and not yet taken by a job
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        # A restarted process has scheduled messages to deliver before anyone sends again.
        app.before_request(self.start_sweeper)

    def enqueue(self, ids: list[int]) -> None:
        with self._lock:
            self._waiting.extend(ids)
        for _ in _jobs(ids):
            self.runner.submit(self._run_next_job)
        self.start_sweeper()

    def _run_next_job(self) -> None:
        with self._lock:
            job, self._waiting = self._waiting[:CHUNK], self._waiting[CHUNK:]
        if job:  # else an earlier job took these ids along
            # A failure is logged by deliver_ids; its messages stay `queued` for the sweep.
            outbox.deliver_ids(self.app, job, self.pool)

    def start_sweeper(self) -> None:
        """Release due messages and recover lost work in the background (not under tests,
        which sweep explicitly or call `run_sweeper`)."""
        if self._sweeper is None and not self.app.config.get("TESTING"):
            self.run_sweeper()

    def run_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = threading.Thread(
                target=sweep_forever, args=(self.app, self._stop), daemon=True, name="sweeper"
            )
            self._sweeper.start()

    def stop_sweeper(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join()


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
                JOB_FUNCTION,
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


def _platform_sweep(app: Flask) -> None:
    """With a third-party platform: waiting messages of revoked merchant apps fail (within SWEEP_INTERVAL,
    30 s by default, when the revoke itself could not fail them), and their users are erased once
    COMPONENT_UNAUTHORIZED_RETAIN_DAYS have passed."""
    if app.extensions["apps"].platform is None:
        return
    from backend.component import events

    events.fail_waiting_of_frozen_apps()
    events.erase_users_of_revoked_apps(app.config["COMPONENT_UNAUTHORIZED_RETAIN_DAYS"])


def sweep_forever(app: Flask, stop: threading.Event | None = None) -> None:
    """Every DUE_SCAN_INTERVAL: queue the due scheduled messages and expire held ones past their
    wait_until; every HELD_SCAN_INTERVAL: release held messages a credit allows; every SWEEP_INTERVAL
    seconds: requeue lost messages, mark abandoned sends unknown; beside it, retention's purges
    (ops/retention.py). Until `stop` is set."""
    stop = stop or threading.Event()
    threading.Thread(target=retention.retain_forever, args=(app, stop), daemon=True, name="retention").start()
    next_sweep = time.monotonic() + app.config["SWEEP_INTERVAL"]
    next_held_scan = time.monotonic()
    failing = False  # a database that is down is logged once, not twice a second
    while not stop.wait(DUE_SCAN_INTERVAL):
        with app.app_context():
            try:
                due.release_due()
                look_for_credits = time.monotonic() >= next_held_scan
                if look_for_credits:
                    next_held_scan = time.monotonic() + HELD_SCAN_INTERVAL
                due.settle_held(look_for_credits=look_for_credits)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + app.config["SWEEP_INTERVAL"]
                    outbox.sweep()
                    quota.refresh_all()  # WeChat is asked at most every 10 minutes per app
                    _platform_sweep(app)
                failing = False
            except Exception:
                if not failing:
                    log.exception("sweep failed")
                failing = True
