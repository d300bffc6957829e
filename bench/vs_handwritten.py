"""Our backend beside the endpoint a team writes by hand (bench/handwritten_app.py), same run, phases alternating.

    .venv/bin/python bench/vs_handwritten.py [--calls N] [--rounds R] [--concurrency C]
        [--workers W] [--threads T] [--users U] [--latency-ms MS] [--database-url URL]

WARNING: it empties the PostgreSQL database it is given (default: `bench`, created when missing).

One emulator (its own process, 20 ms latency), PostgreSQL, and two apps under the same gunicorn
settings (W workers x T threads, gthread; default 2 x 16): ours, and the hand-written one. In one
run, R rounds, C callers, N calls per phase, the order rotating each round:
- reports: ours (POST /api/v1/subscriptions) and the hand-written /report (an HMAC-signed token,
  one INSERT … ON CONFLICT DO UPDATE);
- sends: ours (POST /api/v1/messages, spending the credits of the reports), the hand-written
  /send (token cached in the process, one POST to WeChat) and /send-token-per-send (a fresh
  cgi-bin/token before every send).
It prints rate, p50 and p99 per phase, the ratios against the goals of the send path (sends >= 0.8x
the hand-written endpoint and >= 1.5x the token-per-send helper, reports >= 0.7x the hand-written
report), and CPU per call by process, read from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.backends import BENCH_DATA_KEY, give_wechat_credits, start_backend  # noqa: E402
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
from bench.handwritten_app import create_schema, sign  # noqa: E402
from bench.send_throughput import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    TEMPLATE_ID,
    Http,
    LoadClient,
    _label,
    combined,
    measure,
    postgres_server_pid,
    reset_schema,
    warm_up,
)
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from tests.servers import emulator_process, gunicorn  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402

HANDWRITTEN_SECRET = "bench-handwritten-secret-32-characters"  # gunicorn.conf.py checks its length
GOALS = {  # (ours, theirs): ours / theirs must be at least
    ("sends ours", "sends hand-written"): 0.8,
    ("sends ours", "sends token-per-send"): 1.5,
    ("reports ours", "reports hand-written"): 0.7,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1500, help="calls per phase (1500)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, order rotating (2)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (32)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both apps (2)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker, both apps (16)")
    parser.add_argument("--users", type=int, default=200, help="mini-program users (200)")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (20)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL to EMPTY and use")
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
        reset_schema(args.database_url)
        emulator = stack.enter_context(emulator_process())
        http.session().post(f"{emulator.url}/_emulator/latency", json={"ms": args.latency_ms}).raise_for_status()
        http.session().post(f"{emulator.url}/_emulator/templates", json=ONE_TIME).raise_for_status()

        ours = start_backend(
            stack,
            "ours",
            args.database_url,
            emulator,
            http,
            users=args.users,
            concurrency=conc,
            workers=args.workers,
            threads=args.threads,
        )
        create_schema(args.database_url)
        handwritten = stack.enter_context(
            gunicorn(
                {
                    "WX_API_BASE": emulator.url,
                    "WX_APPID": DEV_APPID,
                    "WX_SECRET": DEV_SECRET,
                    "API_KEY": API_KEY["X-Api-Key"],
                    "SECRET_KEY": HANDWRITTEN_SECRET,
                    # gunicorn.conf.py checks the project's settings before any app starts
                    "DATA_KEY": BENCH_DATA_KEY,
                    "DATABASE_URL": args.database_url,
                    "PYTHONPATH": str(ROOT),
                },
                args.workers,
                args.threads,
                app="bench.handwritten_app:app",
            )
        )
        theirs = LoadClient(handwritten.url)
        stack.callback(theirs.close)
        print(f"machine: {machine()}")
        print(
            f"setup: both apps under gunicorn {args.workers} workers x {args.threads} threads (gthread), PostgreSQL; "
            f"emulator in its own process with {args.latency_ms} ms latency; {conc} concurrent callers; {calls} calls "
            f"per phase after {warm} warm-up calls; {args.users} users",
            flush=True,
        )
        openids = [user["openid"] for user in ours.users]
        give_wechat_credits(http, emulator, openids, 3 * -(-per_kind // args.users), conc)

        def their_send(path: str):
            def call(i: int) -> str | None:
                body = {"openid": openids[i % len(openids)], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
                status, response = theirs.post_json(path, body, API_KEY)
                return None if status == 201 else f"HTTP {status}"

            return call

        def their_report(i: int) -> str | None:
            token = sign(openids[i % len(openids)], HANDWRITTEN_SECRET.encode())
            body = {"results": {TEMPLATE_ID: "accept"}}
            status, response = theirs.post_json("/report", body, {"Authorization": f"Bearer {token}"})
            return None if status == 200 else _label(status, response)

        postmaster = postgres_server_pid(args.database_url)
        meter = CpuMeter(
            {
                "bench": lambda: process_cpu(os.getpid()),
                "gunicorn-ours": ours.cpu,
                "gunicorn-hand": lambda: tree_cpu(handwritten.proc.pid),
                "postgres": lambda: tree_cpu(postmaster),
                "emulator": lambda: tree_cpu(emulator.proc.pid),
            }
        )
        kinds = {
            "reports": {"reports ours": ours.report, "reports hand-written": their_report},
            "sends": {
                "sends ours": ours.send,
                "sends hand-written": their_send("/send"),
                "sends token-per-send": their_send("/send-token-per-send"),
            },
        }
        results = {}
        for phases in kinds.values():
            for name, call in phases.items():
                warm_up(name, call, warm, conc)
            measured = {name: [] for name in phases}
            for round_ in range(args.rounds):
                names = list(phases)
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for name in order:
                    offset = warm + round_ * calls
                    measured[name].append(measure(f"{name} #{round_ + 1}", phases[name], offset, calls, conc, meter))
            results.update(measured)

        rows = [row for measured in results.values() for row in measured]
        totals = {name: combined(name, measured) for name, measured in results.items()}
        rows += list(totals.values())
        print()
        print(table([phase for phase, _ in rows]))
        print(failures_note([phase for phase, _ in rows]))
        print()
        for (mine, other), goal in GOALS.items():
            ratio = totals[mine][0].rate / totals[other][0].rate if totals[other][0].rate else float("nan")
            print(f"{mine} / {other}: {ratio:.2f}   (goal >= {goal}: {'met' if ratio >= goal else 'NOT met'})")
        print()
        print(cpu_table(rows))
        print("(gunicorn-* = master + workers of that app; postgres = the whole server, other clients included)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
