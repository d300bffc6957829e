"""gunicorn reads this file from the working directory: start-up checks, workers and threads for
the database in use, and metrics shared by all workers.

Command-line options (`--workers 4`) and GUNICORN_CMD_ARGS override what is set here, as
gunicorn always does; GUNICORN_WORKERS and GUNICORN_THREADS do too.
"""

import os
import shutil
import sys
import tempfile

from dotenv import dotenv_values


def _database_url() -> str:
    return os.environ.get("DATABASE_URL") or dotenv_values(".env").get("DATABASE_URL") or "sqlite://"


# A worker is one Python process: one core's worth of Python at most (the GIL), so one per core.
# Threads carry the requests that wait, on WeChat (20 ms to 100s of ms) or on the database.
# PostgreSQL: 16 threads per worker keep two cores busy with 32 callers waiting on WeChat.
# SQLite: writes take turns (one writer at a time in a process, then between processes:
# backend/db/sqlite.py), and the thread holding the turn competes for its process's GIL with every
# other runnable thread, so fewer threads per worker keep each turn short; 8 still carry a
# send's wait on WeChat. More workers than cores only add processes taking turns.
_cores = len(os.sched_getaffinity(0))
_on_sqlite = _database_url().startswith("sqlite")
workers = int(os.environ.get("GUNICORN_WORKERS") or _cores)
threads = int(os.environ.get("GUNICORN_THREADS") or (8 if _on_sqlite else 16))

# gunicorn 27 opens a control socket per user (~/.gunicorn/gunicorn.ctl, or under
# XDG_RUNTIME_DIR) for `gunicornc`: two servers of one user would fight over it, and nothing here
# uses it: off.
control_socket_disable = True

# Each worker writes its Prometheus counters here; /metrics sums them (backend/ops/metrics.py).
# Set before anything imports prometheus_client, which picks its mode at import. An operator's
# PROMETHEUS_MULTIPROC_DIR is shared with `flask wx worker` on this machine: it is not emptied
# here, since a worker started earlier writes into it (empty it at boot: docs/operations.md).
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="wxsub-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]

# Before gunicorn logs or forks anything: a wrong setting or an unreachable database is one
# line on stderr and an exit, not a traceback per worker (backend/ops/startup.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend.ops.startup import check_or_exit  # noqa: E402

check_or_exit()


def on_starting(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)  # counters of an earlier run must not leak in
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
