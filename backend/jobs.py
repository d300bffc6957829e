"""What workers run: deliver queued messages by id, and sweep for lost work."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from backend.services import batches

log = logging.getLogger(__name__)

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


def deliver_in_context(app: Flask, message_id: int) -> None:
    """Deliver one message until it is settled (a deferral waits out the back-off and retries)."""
    with app.app_context():
        try:
            while not batches.deliver_one(message_id):
                pass  # requeued by a passing failure; its attempts counter bounds this loop
        except Exception:
            log.exception("delivery failed", extra={"message_id": message_id})


def deliver_chunk(ids: list[int]) -> None:
    """RQ job: deliver these messages with WORKER_THREADS threads."""
    global _pool
    app = worker_app()
    if _pool is None:
        _pool = ThreadPoolExecutor(app.config.get("WORKER_THREADS", 16), thread_name_prefix="wxsub-job")
    list(_pool.map(lambda message_id: deliver_in_context(app, message_id), ids))


def sweep_forever(app: Flask) -> None:
    """Every SWEEP_INTERVAL seconds: requeue lost messages, mark abandoned sends unknown."""
    while True:
        time.sleep(app.config.get("SWEEP_INTERVAL", 30))
        with app.app_context():
            try:
                batches.sweep()
            except Exception:
                log.exception("sweep failed")
