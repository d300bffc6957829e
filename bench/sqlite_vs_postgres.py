"""Sends and consent reports at 32 concurrent callers: the backend on SQLite beside the backend on PostgreSQL.

    .venv/bin/python bench/sqlite_vs_postgres.py [--calls N] [--rounds R] [--concurrency C]
        [--workers W] [--threads T] [--users U] [--latency-ms MS] [--database-url URL]
        [--only reports|sends] [--idempotency-key]

WARNING: it empties the PostgreSQL database it is given (default: `bench`, created when missing).
The SQLite database is a new file in a temporary directory.

One emulator (its own process, 20 ms latency) and two backends under gunicorn, each with the
workers and threads gunicorn.conf.py chooses for its database (or --workers / --threads for
both). In one run: R rounds of reports (POST /api/v1/subscriptions, one "accept" each), then R
rounds of sends (POST /api/v1/messages, spending those credits), N calls per phase from C
callers, the two databases alternating within each round (SQLite first in odd rounds). It prints
rate, p50 and p99 per phase and pooled, SQLite/PostgreSQL ratios against the goals (p99 < 300 ms,
rate >= 0.8x PostgreSQL), CPU per call by process, and a check that credits, audit rows and
messages agree on both databases.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.backends import Backend, count, give_wechat_credits, start_backend  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    CpuMeter,
    check_loopback,
    cpu_table,
    failures_note,
    machine,
    process_cpu,
    stop_on_sigterm,
    table,
    tree_cpu,
)
from bench.send_throughput import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    Http,
    combined,
    measure,
    postgres_server_pid,
    reset_schema,
    warm_up,
)
from tests.servers import emulator_process  # noqa: E402

P99_GOAL_MS = 300
RATE_GOAL = 0.8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1500, help="calls per phase (1500)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each kind, databases alternating (2)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (32)")
    parser.add_argument("--workers", type=int, help="gunicorn workers for both (default: gunicorn.conf.py's choice)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker for both (default: gunicorn.conf.py)")
    parser.add_argument("--users", type=int, default=200, help="mini-program users per backend (200)")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (20)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL to EMPTY and use")
    parser.add_argument("--only", choices=["reports", "sends"], help="one kind of call only")
    parser.add_argument("--idempotency-key", action="store_true", help="a unique Idempotency-Key on every call")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    check_loopback(args.database_url)
    conc, calls = args.concurrency, args.calls
    warm = 2 * conc
    per_kind = warm + args.rounds * calls

    with contextlib.ExitStack() as stack:
        http = Http()
        stack.callback(http.close)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sqlite-"))
        urls = {"sqlite": f"sqlite:///{Path(tmp, 'bench.sqlite3')}", "postgresql": args.database_url}
        reset_schema(args.database_url)
        emulator = stack.enter_context(emulator_process())
        http.session().post(f"{emulator.url}/_emulator/latency", json={"ms": args.latency_ms}).raise_for_status()
        from tests.helpers import ONE_TIME

        http.session().post(f"{emulator.url}/_emulator/templates", json=ONE_TIME).raise_for_status()

        backends: dict[str, Backend] = {
            name: start_backend(
                stack,
                name,
                url,
                emulator,
                http,
                users=args.users,
                concurrency=conc,
                workers=args.workers,
                threads=args.threads,
            )
            for name, url in urls.items()
        }
        for backend in backends.values():
            backend.idempotency = args.idempotency_key
        print(f"machine: {machine()}")
        print(
            "setup: "
            + ", ".join(f"{name} {b.workers_threads()}" for name, b in backends.items())
            + f" (gthread); emulator in its own process with {args.latency_ms} ms latency; {conc} concurrent "
            f"callers; {calls} calls per phase after {warm} warm-up calls; {args.users} users per backend"
            + ("; an Idempotency-Key on every call" if args.idempotency_key else ""),
            flush=True,
        )
        if args.only != "reports":
            openids = [u["openid"] for b in backends.values() for u in b.users]
            give_wechat_credits(http, emulator, openids, -(-per_kind // args.users), conc)

        postmaster = postgres_server_pid(args.database_url)
        meter = CpuMeter(
            {
                "bench": lambda: process_cpu(os.getpid()),
                "gunicorn-sqlite": backends["sqlite"].cpu,
                "gunicorn-pg": backends["postgresql"].cpu,
                "postgres": lambda: tree_cpu(postmaster),
                "emulator": lambda: tree_cpu(emulator.proc.pid),
            }
        )
        kinds = ["reports", "sends"] if args.only is None else [args.only]
        if args.only == "sends":  # credits at the backends come from reports all the same
            for backend in backends.values():
                warm_up(f"credits {backend.name}", backend.report, per_kind, conc)
        results = {}
        for kind in kinds:
            calls_of = {name: (b.report if kind == "reports" else b.send) for name, b in backends.items()}
            for name, call in calls_of.items():
                warm_up(f"{kind} {name}", call, warm, conc)
            measured = {name: [] for name in calls_of}
            for round_ in range(args.rounds):
                order = list(calls_of) if round_ % 2 == 0 else list(reversed(calls_of))
                for name in order:
                    offset = warm + round_ * calls
                    measured[name].append(
                        measure(f"{kind} {name} #{round_ + 1}", calls_of[name], offset, calls, conc, meter)
                    )
            results[kind] = measured

        print()
        rows = []
        for kind, measured in results.items():
            rows += [row for name in measured for row in measured[name]]
            rows += [combined(f"{kind} {name}", measured[name]) for name in measured]
        print(table([phase for phase, _ in rows]))
        print(failures_note([phase for phase, _ in rows]))
        print()
        for kind, measured in results.items():
            lite, pg = (combined(kind, measured[name])[0] for name in ("sqlite", "postgresql"))
            ratio = lite.rate / pg.rate if pg.rate else float("nan")
            print(
                f"{kind}: SQLite {lite.rate:.0f}/s p99 {lite.percentile_ms(99):.0f} ms, PostgreSQL {pg.rate:.0f}/s "
                f"p99 {pg.percentile_ms(99):.0f} ms; SQLite/PostgreSQL {ratio:.2f} "
                f"(goals: p99 < {P99_GOAL_MS} ms both: "
                f"{'met' if max(lite.percentile_ms(99), pg.percentile_ms(99)) < P99_GOAL_MS else 'NOT met'}; "
                f"rate >= {RATE_GOAL}x: {'met' if ratio >= RATE_GOAL else 'NOT met'})"
            )
        print()
        print(cpu_table(rows))
        print("(gunicorn-* = master + workers of that backend; postgres = the whole server)")
        for name, url in urls.items():
            print(f"check {name}: {consistency(url)}")


def consistency(url: str) -> str:
    """Credits granted minus credits spent equals credits left; one spent audit row per message."""
    granted = count(url, "SELECT COALESCE(SUM(credits_delta), 0) FROM consent_events WHERE credits_delta > 0")
    spent = -count(url, "SELECT COALESCE(SUM(credits_delta), 0) FROM consent_events WHERE credits_delta < 0")
    left = count(url, "SELECT COALESCE(SUM(remaining), 0) FROM subscriptions")
    messages = count(url, "SELECT COUNT(*) FROM messages")
    sent = count(url, "SELECT COUNT(*) FROM messages WHERE status = 'sent'")
    agree = granted - spent == left and spent == messages
    return (
        f"granted {granted}, spent {spent}, left {left}, messages {messages} ({sent} sent): "
        f"{'consistent' if agree else 'INCONSISTENT'}"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
