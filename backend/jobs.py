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
    """RQ job: deliver these messages, claimed WORKER_THREADS at a time and sent in parallel."""
    global _pool
    app = worker_app()
    threads = app.config["WORKER_THREADS"]
    if _pool is None:
        _pool = ThreadPoolExecutor(threads, thread_name_prefix="wxsub-job")
    for start in range(0, len(ids), threads):
        with app.app_context():
            try:
                claimed, batch_ids = batches.claim_group(ids[start : start + threads])
            except Exception:
                log.exception("claim failed", extra={"message_ids": ids[start : start + threads]})
                raise  # RQ keeps the job as failed; the sweeper requeues its messages
        delivered = list(_pool.map(lambda message: _deliver_claimed(app, message), claimed))
        deferred = [message.id for message, done in zip(claimed, delivered, strict=True) if not done]
        list(_pool.map(lambda message_id: deliver_in_context(app, message_id), deferred))
        with app.app_context():
            for batch_id in batch_ids:
                batches.finish_batch_if_done(batch_id)


def _deliver_claimed(app: Flask, message) -> bool:
    with app.app_context():
        try:
            return batches.deliver_claimed(message)
        except Exception:
            log.exception("delivery failed", extra={"message_id": message.id})
            return True  # left `sending`: the sweeper makes it `unknown`


def sweep_forever(app: Flask) -> None:
    """Every SWEEP_INTERVAL seconds: requeue lost messages, mark abandoned sends unknown."""
    while True:
        time.sleep(app.config["SWEEP_INTERVAL"])
        with app.app_context():
            try:
                batches.sweep()
            except Exception:
                log.exception("sweep failed")
