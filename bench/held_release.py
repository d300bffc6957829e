"""The report path with held sends released in it, beside the report path without.

    .venv/bin/python bench/held_release.py [--calls N] [--concurrency C] [--workers W] [--threads T]
        [--users U] [--latency-ms MS] [--database-url URL]

WARNING: it empties the PostgreSQL database it is given (default: `bench`, created when missing).

One emulator (its own process, 20 ms latency) and the backend under gunicorn on PostgreSQL,
without Redis (the web process delivers what a report releases). Three phases of N consent
reports (POST /api/v1/subscriptions, one "accept" each) from C callers, each on a template of
its own:

1. **nothing held** in the app: the report asks once a second per process whether anything is
   held, and commits its grant alone (one statement);
2. **each report releases one held message**: N sends held first (`if_no_credit: "wait"`, N/U
   per user), then N reports, each releasing one in its own transaction; the web process's
   delivery threads send them meanwhile (their CPU counts in this phase);
3. **held elsewhere**: one message held for another template, so every report of the phase
   takes the releasing path and finds nothing for its user.

It prints rate, p50 and p99 per phase, CPU per report by process, how long the released
messages took to be sent, and a check: N released, N sent, N WeChat calls, none held.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.backends import count, emulator_control, start_backend  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    CpuMeter,
    check_loopback,
    cpu_table,
    failures_note,
    machine,
    stop_on_sigterm,
    table,
    tree_cpu,
)
from bench.send_throughput import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    Http,
    _label,
    measure,
    postgres_server_pid,
    reset_schema,
    warm_up,
)
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402

WARM, PLAIN, RELEASING, ELSEWHERE, BYSTANDER = (f"tmpl-bench-{name}" for name in ("warm", "a", "b", "c", "d"))
# The checks' queries, about the released template only (its id is a constant of this file).
SENT = "SELECT COUNT(*) FROM messages WHERE status = 'sent' AND template_id = 'tmpl-bench-b'"
STILL_HELD = "SELECT COUNT(*) FROM messages WHERE status = 'awaiting_consent' AND template_id = 'tmpl-bench-b'"
SPENT = (
    "SELECT COALESCE(SUM(credits_delta), 0) FROM consent_events WHERE credits_delta < 0 "
    "AND template_id = 'tmpl-bench-b'"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=800, help="reports per phase (800)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (32)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's choice)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py)")
    parser.add_argument("--users", type=int, default=100, help="mini-program users (100)")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (20)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL to EMPTY and use")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    check_loopback(args.database_url)
    conc, calls, users = args.concurrency, args.calls, args.users

    with contextlib.ExitStack() as stack:
        http = Http()
        stack.callback(http.close)
        reset_schema(args.database_url)
        emulator = stack.enter_context(emulator_process())
        control = emulator_control(http, emulator)
        control("/latency", ms=args.latency_ms)
        for template_id in (WARM, PLAIN, RELEASING, ELSEWHERE, BYSTANDER):
            control("/templates", **{**ONE_TIME, "priTmplId": template_id, "title": template_id})
        backend = start_backend(
            stack,
            "postgresql",
            args.database_url,
            emulator,
            http,
            users=users,
            concurrency=conc,
            workers=args.workers,
            threads=args.threads,
        )
        print(f"machine: {machine()}")
        print(
            f"setup: PostgreSQL, {backend.workers_threads()} (gthread), no Redis; emulator in its own process "
            f"with {args.latency_ms} ms latency; {conc} concurrent callers; {calls} reports per phase after "
            f"{2 * conc} warm-up reports; {users} users",
            flush=True,
        )

        def report(template_id: str):
            def call(i: int) -> str | None:
                user = backend.users[i % users]
                body = {"results": {template_id: "accept"}}
                status, answer = backend.load.post_json("/api/v1/subscriptions", body, user["auth"])
                return None if status == 200 else _label(status, answer)

            return call

        def hold(template_id: str):
            def call(i: int) -> str | None:
                user = backend.users[i % users]
                body = {"openid": user["openid"], "template_id": template_id, "data": GOOD_DATA, "if_no_credit": "wait"}
                status, answer = backend.load.post_json("/api/v1/messages", body, API_KEY)
                return None if status == 202 else _label(status, answer)

            return call

        postmaster = postgres_server_pid(args.database_url)
        meter = CpuMeter(
            {
                "gunicorn": backend.cpu,
                "postgres": lambda: tree_cpu(postmaster),
                "emulator": lambda: tree_cpu(emulator.proc.pid),
            }
        )
        warm_up("reports", report(WARM), 2 * conc, conc)
        rows = [measure("1 nothing held", report(PLAIN), 0, calls, conc, meter)]

        # WeChat must take the released sends: the users accept there as they report here.
        for openid in [user["openid"] for user in backend.users]:
            for _ in range(-(-calls // users)):
                control("/popup", openid=openid, results={RELEASING: "accept"})
        warm_up("held sends (setup)", hold(RELEASING), calls, conc)
        began = time.monotonic()
        rows.append(measure("2 each releases one", report(RELEASING), 0, calls, conc, meter))
        drained = wait_until_sent(args.database_url, calls, began)

        warm_up("one held elsewhere (setup)", hold(BYSTANDER), 1, 1)
        rows.append(measure("3 held elsewhere", report(ELSEWHERE), 0, calls, conc, meter))

        print()
        print(table([phase for phase, _ in rows]))
        print(failures_note([phase for phase, _ in rows]))
        print()
        print(cpu_table(rows))
        print("(gunicorn = master + workers, with the delivery threads of the released sends; postgres = the server)")
        print(f"released messages sent: {drained}")
        sent_calls = [call for call in control_log(http, emulator.url) if call["api"] == "subscribe_send"]
        print(
            "check: " + check(args.database_url, calls, len([call for call in sent_calls if call.get("errcode") == 0]))
        )


def wait_until_sent(url: str, expected: int, began: float, limit: float = 300.0) -> str:
    """Seconds from the first report of phase 2 until every released message was sent."""
    while time.monotonic() - began < limit:
        sent = count(url, SENT)
        if sent >= expected:
            return f"all {expected} within {time.monotonic() - began:.1f} s of the phase's first report"
        time.sleep(0.2)
    return f"only {sent} of {expected} after {limit:.0f} s"


def control_log(http: Http, emulator_url: str) -> list[dict]:
    response = http.session().get(f"{emulator_url}/_emulator/log", timeout=30)
    response.raise_for_status()
    return response.json()["calls"]


def check(url: str, expected: int, wechat_calls: int) -> str:
    sent, held, spent = count(url, SENT), count(url, STILL_HELD), -count(url, SPENT)
    agree = sent == expected and held == 0 and spent == expected and wechat_calls == expected
    return (
        f"{sent} sent, {held} still held, {spent} credits spent, {wechat_calls} WeChat sends: "
        f"{'consistent' if agree else 'INCONSISTENT'}"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
