"""The RQ job, at a dotted path that stays put: RQ stores a job as the path of its function,
so jobs already in Redis when a deployment upgrades still find it here. Jobs that named an
older path fail in RQ, and their messages, still `queued` in the outbox, are queued again by
the sweep (backend/delivery/queue.py): nothing is lost.

This module sits above the factory: a job run outside `flask wx worker` (a bare `rq worker`)
builds the app itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app, has_app_context

from backend import create_app
from backend.delivery import outbox

_app: Flask | None = None
_pool: ThreadPoolExecutor | None = None


def worker_app() -> Flask:
    """The app of `flask wx worker`, whose context the job runs in; else one made once."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        _app = create_app()
    return _app


def deliver_chunk(ids: list[int]) -> None:
    """The RQ job: deliver these messages (a failure leaves the job failed in RQ; the sweep
    queues what it left `queued`)."""
    global _pool
    app = worker_app()
    if _pool is None:
        _pool = ThreadPoolExecutor(app.config["WORKER_THREADS"], thread_name_prefix="wxsub-job")
    outbox.deliver_ids(app, ids, _pool)
