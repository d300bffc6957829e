"""gunicorn reads this file from the working directory: start-up checks, and metrics shared by all workers."""

import os
import shutil
import sys
import tempfile

# Each worker writes its Prometheus counters here; /metrics sums them (backend/metrics.py).
# Set before anything imports prometheus_client, which picks its mode at import.
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="wxsub-metrics-"))

# Before gunicorn logs or forks anything: a wrong setting or an unreachable database is one
# line on stderr and an exit, not a traceback per worker (backend/startup.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend.startup import check_or_exit  # noqa: E402

check_or_exit()


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)  # counters of an earlier run must not leak in
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
