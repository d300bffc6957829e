"""Calls per second of WeChatClient against the emulator, beside a bare requests.Session loop.

    .venv/bin/python bench/client_throughput.py [--calls N] [--threads T] [--latency-ms MS]
                                               [--rounds R] [--database-url URL]

The emulator runs as its own process on 127.0.0.1 with injected latency (20 ms by default).
Both sides make the same authenticated call, `GET /wxaapi/newtmpl/gettemplate`, from T
threads (32): the real client through `client.templates.list()` (token from a
DatabaseTokenStore: SQLite in a temp dir, or the PostgreSQL of --database-url), and one
requests.Session with a pool of T connections calling the URL with a valid token. Each side
is measured R times (2), in alternating order, N calls (2000) each time after a short warm-up.
It prints figures only: there is no pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import math
import os
import platform
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.infra.token_storage import DatabaseTokenStore  # noqa: E402
from backend.models import AccessToken  # noqa: E402
from backend.ops.logs import JsonFormatter  # noqa: E402
from backend.wechat import WeChatClient  # noqa: E402
from tests.helpers import ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402

LOOPBACK = {None, "", "127.0.0.1", "localhost", "::1"}
TIMEOUT = (3.05, 10.0)  # the client's default (WX_CONNECT_TIMEOUT, WX_READ_TIMEOUT)
PHASE_LIMIT = 120.0  # seconds: a phase stops issuing calls after this, whatever is left


# --- measuring --------------------------------------------------------------------------


@dataclass
class Phase:
    """One measured run of `calls` calls."""

    name: str
    seconds: float
    latencies: list[float]  # seconds, one per finished call
    failures: Counter = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def add_cpu(samples: list[dict[str, float]]) -> dict[str, float]:
    return {name: sum(sample[name] for sample in samples) for name in samples[0]} if samples else {}


def merge(name: str, phases: list[Phase]) -> Phase:
    failures: Counter = Counter()
    for phase in phases:
        failures.update(phase.failures)
    return Phase(name, sum(p.seconds for p in phases), [x for p in phases for x in p.latencies], failures)


def run_load(name: str, call: Callable[[int], str | None], total: int, threads: int) -> Phase:
    """`call(i)` for i in range(total) from `threads` threads; returns None or a failure label.

    Threads start together at a barrier; the clock runs from the barrier to the last call.
    Daemon threads and a stop flag keep Ctrl-C and the phase limit working.
    """
    taken = iter(range(total))
    take_lock = threading.Lock()
    stop = threading.Event()
    start = threading.Barrier(threads + 1)
    results: list[tuple[list[float], Counter]] = []

    def worker() -> None:
        latencies: list[float] = []
        failures: Counter = Counter()
        results.append((latencies, failures))
        start.wait()
        while not stop.is_set():
            with take_lock:
                index = next(taken, None)
            if index is None:
                return
            began = time.perf_counter()
            try:
                outcome = call(index)
            except Exception as exc:  # counted, never raised: a benchmark reports failures
                outcome = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            if outcome is not None:
                failures[outcome] += 1

    pool = [threading.Thread(target=worker, name=f"{name}-{n}", daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    hit_limit = False
    try:
        for thread in pool:
            while thread.is_alive():
                thread.join(0.2)
                if not hit_limit and time.perf_counter() - began > PHASE_LIMIT:
                    hit_limit = True
                    stop.set()
    finally:
        stop.set()
    phase = merge(name, [Phase(name, 0.0, lat, fail) for lat, fail in results])
    phase.seconds = time.perf_counter() - began
    if hit_limit:
        phase.failures[f"stopped after {PHASE_LIMIT:.0f} s"] += 1
    return phase


# --- CPU accounting -----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds of a process (all its threads) and of its children it has reaped; 0 once gone.

    Reaped children count through cutime/cstime, so a tree's total never drops when a
    child exits (PostgreSQL backends of connections that were closed, for instance).
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and parent_of(int(entry)) == pid]


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants, and the children they reaped."""
    return process_cpu(pid) + sum(tree_cpu(child) for child in children(pid))


class CpuMeter:
    """CPU seconds used by named groups of processes between two snapshots.

    On a 2-core machine shared by the load generator, the emulator, the backend and the
    database, CPU per call says where the capacity goes, and it moves much less than
    wall-clock rates when something else runs on the machine.
    """

    def __init__(self, groups: dict[str, Callable[[], float]]) -> None:
        self.groups = groups  # name -> CPU seconds so far

    def snapshot(self) -> dict[str, float]:
        return {name: seconds() for name, seconds in self.groups.items()}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        after = self.snapshot()
        return {name: after[name] - before.get(name, 0.0) for name in after}


def cpu_table(rows: list[tuple[Phase, dict[str, float]]]) -> str:
    """CPU milliseconds per call, per group, and the rate the machine's cores would allow."""
    names = list(rows[0][1]) if rows else []
    head = f"{'CPU ms per call':<28} " + " ".join(f"{n:>9}" for n in names) + f" {'total':>7} {'cores/CPU':>10}"
    lines = [head, "-" * len(head)]
    cores = len(os.sched_getaffinity(0))
    for phase, used in rows:
        per_call = {n: used[n] * 1000 / max(phase.calls, 1) for n in names}
        total = sum(per_call.values())
        ceiling = cores * 1000 / total if total else float("nan")
        lines.append(
            f"{phase.name:<28} " + " ".join(f"{per_call[n]:>9.2f}" for n in names) + f" {total:>7.2f} {ceiling:>8.0f}/s"
        )
    return "\n".join(lines)


# --- reporting ------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def table(phases: list[Phase]) -> str:
    head = f"{'phase':<28} {'calls':>6} {'fail':>5} {'seconds':>8} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    lines = [head, "-" * len(head)]
    for p in phases:
        lines.append(
            f"{p.name:<28} {p.calls:>6} {sum(p.failures.values()):>5} {p.seconds:>8.2f} "
            f"{p.rate:>8.1f} {p.percentile_ms(50):>7.1f} {p.percentile_ms(99):>7.1f}"
        )
    return "\n".join(lines)


def failures_note(phases: list[Phase]) -> str:
    notes = [f"  {p.name}: {dict(p.failures)}" for p in phases if p.failures]
    return "failures:\n" + "\n".join(notes) if notes else "failures: none"


# --- setup ------------------------------------------------------------------------------------


def check_loopback(url: str) -> None:
    host = sa.engine.make_url(url).host
    if host not in LOOPBACK:
        raise SystemExit(f"--database-url must point at this machine (127.0.0.1), not {host!r}")


def log_like_the_app(enabled: bool) -> None:
    """The app's JSON log line per WeChat call, written to /dev/null (as under gunicorn)."""
    logger = logging.getLogger("backend.wechat")
    if not enabled:
        logger.handlers[:] = [logging.NullHandler()]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        return
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def stop_on_sigterm() -> None:
    """SIGTERM runs the same clean-up as Ctrl-C (the `finally` blocks stop the children)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def control(url: str, path: str, **body) -> dict:
    response = requests.post(f"{url}/_emulator{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--threads", type=int, default=32, help="concurrent threads (default 32)")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per side, order alternated (default 2)")
    parser.add_argument("--database-url", help="token store database (default: SQLite in a temp dir)")
    parser.add_argument("--no-log", action="store_true", help="drop the client's per-call log line entirely")
    return parser.parse_args()


# --- the benchmark ---------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    log_like_the_app(not args.no_log)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-client-"))
        url = args.database_url or f"sqlite:///{Path(tmp, 'tokens.sqlite3')}"
        check_loopback(url)
        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        AccessToken.__table__.create(engine, checkfirst=True)
        store_name = f"bench-{uuid.uuid4().hex[:12]}"  # a row of its own, removed at the end
        stack.callback(_drop_token_row, engine, store_name)

        emulator = stack.enter_context(emulator_process())
        control(emulator.url, "/latency", ms=args.latency_ms)
        control(emulator.url, "/templates", **ONE_TIME)

        client = WeChatClient(
            DEV_APPID,
            DEV_SECRET,
            api_base=emulator.url,
            token_store=DatabaseTokenStore(engine, store_name),
            timeout=TIMEOUT,
        )
        stack.callback(client.session.close)
        token = client.tokens.get()

        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=args.threads, max_retries=0))
        stack.callback(session.close)
        bare_url = f"{emulator.url}/wxaapi/newtmpl/gettemplate"

        def client_call(_: int) -> str | None:
            templates = client.templates.list()
            return None if templates else "empty reply"

        def bare_call(_: int) -> str | None:
            response = session.get(bare_url, params={"access_token": token}, timeout=TIMEOUT)
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            errcode = int(response.json().get("errcode") or 0)
            return f"errcode {errcode}" if errcode else None

        sides = {"client": client_call, "bare": bare_call}
        print(f"machine: {machine()}")
        print(
            f"setup: emulator {emulator.url} (own process, {args.latency_ms} ms latency), "
            f"{args.threads} threads, {args.calls} calls per measurement, {args.rounds} rounds, "
            f"token store {sa.engine.make_url(url).get_backend_name()}, "
            f"client log {'off' if args.no_log else 'JSON to /dev/null'}",
            flush=True,
        )
        for name, call in sides.items():  # warm-up: connections, token, first-call costs
            run_load(f"warm-up {name}", call, 2 * args.threads, args.threads)

        meter = CpuMeter({"bench": lambda: process_cpu(os.getpid()), "emulator": lambda: tree_cpu(emulator.proc.pid)})
        measured: dict[str, list[tuple[Phase, dict[str, float]]]] = {"client": [], "bare": []}
        for round_no in range(args.rounds):
            order = ["client", "bare"] if round_no % 2 == 0 else ["bare", "client"]
            for name in order:
                before = meter.snapshot()
                phase = run_load(f"{name} (round {round_no + 1})", sides[name], args.calls, args.threads)
                measured[name].append((phase, meter.since(before)))
                print(f"  {phase.name}: {phase.rate:.1f} calls/s", flush=True)

        rounds = [row for name in ("client", "bare") for row in measured[name]]
        totals = [
            (merge(f"{name} (all rounds)", [p for p, _ in rows]), add_cpu([c for _, c in rows]))
            for name, rows in measured.items()
        ]
        print()
        print(table([p for p, _ in rounds + totals]))
        print(failures_note([p for p, _ in rounds]))
        print()
        print(cpu_table(rounds + totals))
        totals = [p for p, _ in totals]
        ratio = totals[0].rate / totals[1].rate if totals[1].rate else float("nan")
        print(f"ratio client/bare (calls/s, all rounds): {ratio:.2f}")
        print(f"tokens fetched by the client: {client.tokens.fetches}")


def _drop_token_row(engine: sa.engine.Engine, name: str) -> None:
    with contextlib.suppress(sa.exc.SQLAlchemyError), engine.begin() as conn:
        conn.execute(sa.delete(AccessToken.__table__).where(AccessToken.__table__.c.name == name))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
