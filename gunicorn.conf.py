"""gunicorn reads this file from the working directory: metrics shared by all workers."""

import os
import shutil
import tempfile

# Each worker writes its Prometheus counters here; /metrics sums them (backend/metrics.py).
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="wxsub-metrics-"))


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)  # counters of an earlier run must not leak in
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
