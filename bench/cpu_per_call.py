"""CPU per report and per send, in one process, ours beside the hand-written endpoint: figures that
hold on a loaded machine.

    .venv/bin/python bench/cpu_per_call.py [--calls N] [--rounds R] [--users U] [--database-url URL]
        [--handwritten-database-url PG] [--redis-url URL] [--profile] [--dump DIR] [--callgrind]
        [--only reports|sends]

WARNING: a PostgreSQL database given with --database-url or --handwritten-database-url is EMPTIED
(DROP SCHEMA public CASCADE). The default runs ours on a new SQLite file.

Wall-clock rates (bench/vs_handwritten.py) need a quiet machine; this script does not. Both apps
run in this process behind Flask's test client (the same WSGI call for both), one call at a
time, against one emulator in its own process (no latency), and each phase reports:
- CPU ms per call: `time.thread_time()` of the calling thread (which runs both apps' code) over N
  calls, the lowest of R rounds (a loaded machine only adds to a round; the lowest is the one
  least disturbed); background threads (SQLite's checkpoints, the webhook runner) are left out;
- Python calls per call: function calls counted by cProfile in one more round, the same on an idle
  and on a loaded machine for the same code and inputs (a change that does less shows there first);
- with --callgrind, instead: instructions per call, counted by valgrind's callgrind (the script
  runs itself under it, counting only the measured calls): the same count on any load, the
  figure to compare before and after a change (slow: use few calls, e.g. --calls 30 --rounds 1);
- with --profile, where the CPU goes: the profiled round's own time by library and by part of
  the backend, as shares of the call (the profiler's overhead is spread alike).

The phases: reports (ours: POST /api/v1/subscriptions, one `accept`; hand-written: POST /report on
PostgreSQL only) and sends (ours: POST /api/v1/messages, spending those credits; hand-written
/send and /send-token-per-send); ours also with an Idempotency-Key. The app logs as under
gunicorn (JSON lines, here to /dev/null) and counts its metrics in multiprocess files, as the
gunicorn workers do.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

# As under gunicorn (gunicorn.conf.py): metrics in per-process files, set before prometheus_client loads.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="wxsub-cpu-metrics-"))

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.templates.catalog import sync_templates  # noqa: E402
from bench.send_throughput import TEMPLATE_ID, quiet_app_logs, reset_schema  # noqa: E402
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402

HANDWRITTEN_SECRET = "bench-handwritten-secret-32-characters"
Call = Callable[[int], None]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per round (300)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per phase, the lowest kept (5)")
    parser.add_argument("--users", type=int, default=50, help="mini-program users (50)")
    parser.add_argument("--database-url", default=None, help="ours: PostgreSQL to EMPTY (default: a new SQLite file)")
    parser.add_argument(
        "--handwritten-database-url",
        default=None,
        help="the hand-written report's PostgreSQL, EMPTIED (default: --database-url if PostgreSQL, else none)",
    )
    parser.add_argument("--redis-url", default=None, help="ours with REDIS_URL (a Redis db this run may fill)")
    parser.add_argument("--profile", action="store_true", help="print where each phase's CPU goes")
    parser.add_argument("--dump", default=None, help="a folder for each phase's profile (pstats files)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per call, under valgrind")
    parser.add_argument("--only", choices=("reports", "sends"), default=None)
    return parser.parse_args()


class Emulator:
    def __init__(self, url: str) -> None:
        self.url, self.http = url, requests.Session()

    def control(self, path: str, **body) -> dict:
        response = self.http.post(f"{self.url}/_emulator{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()


def is_postgres(url: str | None) -> bool:
    return bool(url) and sa.engine.make_url(url).get_backend_name() == "postgresql"


def our_app(database_url: str, emulator_url: str, redis_url: str | None):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "WX_API_BASE": emulator_url,
            "WX_APPID": DEV_APPID,
            "WX_SECRET": DEV_SECRET,
            "REDIS_URL": redis_url,
            "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
            # Checked as always, never reached: a user here reports far more than 60 times a minute.
            "RATE_LIMIT_REPORTS": 10**9,
        }
    )
    quiet_app_logs()
    with app.app_context():
        db.create_all()
        sync_templates(app.extensions["apps"].only())
    return app


def handwritten_app(emulator_url: str, database_url: str | None):
    """bench/handwritten_app.py, configured as vs_handwritten.py configures it (it reads the environment at import)."""
    os.environ.update(
        WX_API_BASE=emulator_url,
        WX_APPID=DEV_APPID,
        WX_SECRET=DEV_SECRET,
        API_KEY=API_KEY["X-Api-Key"],
        SECRET_KEY=HANDWRITTEN_SECRET,
        DATABASE_URL=database_url or "",
    )
    from bench import handwritten_app

    if database_url:
        handwritten_app.create_schema(database_url)
    return handwritten_app


def checked(response, status: int, what: str) -> None:
    if response.status_code != status:
        raise SystemExit(f"{what}: HTTP {response.status_code} {response.get_data(as_text=True)[:300]}")


UNDER_CALLGRIND = "WXSUB_BENCH_UNDER_CALLGRIND"  # set when this script runs itself under valgrind


def run_under_callgrind() -> None:
    """Run this script again under callgrind, instrumenting nothing until the measured calls."""
    out = tempfile.mkdtemp(prefix="wxsub-callgrind-")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=yes",  # the calling thread's count alone (not SQLite's checkpoints, timed by the clock)
        f"--callgrind-out-file={out}/cg.%p",
        sys.executable,
        *sys.argv,
    ]
    raise SystemExit(subprocess.run(command, env={**os.environ, UNDER_CALLGRIND: out}).returncode)


def callgrind(*command: str) -> None:
    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True)


def instructions(call: Call, start: int, calls: int) -> float:
    """Instructions the process ran for `calls` calls, from a callgrind dump of just those."""
    folder = Path(os.environ[UNDER_CALLGRIND])
    callgrind("--zero")
    for i in range(start, start + calls):
        call(i)
    callgrind("--dump")
    newest = max(folder.glob("cg.*-01"), key=lambda path: path.stat().st_mtime_ns)  # thread 1: the caller
    totals = [line for line in newest.read_text().splitlines() if line.startswith("summary:")]
    return float(totals[0].split()[1])


def warm(call: Call, start: int, calls: int) -> int:
    for i in range(start, start + min(20, calls)):  # first compilations, pools, caches
        call(i)
    return start + min(20, calls)


def measure(name: str, call: Call, start: int, calls: int, rounds: int) -> tuple[float, int]:
    """(lowest CPU ms per call over `rounds`, the next call number)."""
    n = warm(call, start, calls)
    best = float("inf")
    for _ in range(rounds):
        began = time.thread_time()
        for i in range(n, n + calls):
            call(i)
        best = min(best, (time.thread_time() - began) * 1000 / calls)
        n += calls
    return best, n


def profiled(call: Call, start: int, calls: int) -> pstats.Stats:
    profile = cProfile.Profile(time.thread_time)  # CPU, not waits on the database or the emulator
    profile.enable()
    for i in range(start, start + calls):
        call(i)
    profile.disable()
    return pstats.Stats(profile)


def where(filename: str, function: str) -> str:
    """The part of the code a function belongs to: a backend folder, a library, or the interpreter."""
    path = filename.replace("\\", "/")
    if path == "~":  # a C function: named by what it is
        if "socket" in function or "recv" in function or "sendall" in function or "poll" in function:
            return "sockets (C)"
        if "sqlite3" in function:
            return "sqlite3 (C)"
        return "built-ins (C)"
    if "/backend/" in path:
        rest = path.split("/backend/", 1)[1].split("/")
        return "backend/" + (rest[0] if len(rest) > 1 else rest[0].removesuffix(".py"))
    if "/bench/" in path:
        return "bench (hand-written app, driver)"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    return "stdlib/" + Path(path).stem if "/python3" in path else Path(path).stem


def breakdown(stats: pstats.Stats, calls: int, top: int = 12) -> list[str]:
    own: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        own[where(filename, function)] += tottime
        total += tottime
    lines = []
    for part, seconds in sorted(own.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"      {part:<36} {100 * seconds / total:5.1f} %  {seconds * 1e6 / calls:7.0f} µs")
    return lines


def backend_functions(stats: pstats.Stats, calls: int, top: int = 14) -> list[str]:
    """The backend's functions by time inside them and what they call (cumulative), per call."""
    rows = []
    for (filename, line, function), (_cc, nc, _tt, cumtime, _callers) in stats.stats.items():
        if "/backend/" in filename:
            short = filename.split("/backend/", 1)[1]
            rows.append((cumtime, f"{short}:{line} {function}", nc / calls))
    rows.sort(reverse=True)
    return [f"      {cum * 1e6 / calls:7.0f} µs  {count:5.1f}×  {name}" for cum, name, count in rows[:top]]


def main() -> None:
    args = parse_args()
    if args.callgrind and not os.environ.get(UNDER_CALLGRIND):
        run_under_callgrind()
    handwritten_url = args.handwritten_database_url or (args.database_url if is_postgres(args.database_url) else None)
    for url in {args.database_url, handwritten_url} - {None}:
        if not is_postgres(url):
            raise SystemExit(f"{url}: only a PostgreSQL URL can be given (it is emptied)")
        reset_schema(url)
    warm_and_rounds = 20 + args.rounds * args.calls + args.calls  # + the profiled round
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="wxsub-cpu-"))
        database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        server = stack.enter_context(emulator_process())
        emulator = Emulator(server.url)
        emulator.control("/templates", **ONE_TIME)
        app = our_app(database_url, server.url, args.redis_url)
        hand = handwritten_app(server.url, handwritten_url)
        ours, theirs = app.test_client(), hand.app.test_client()

        users = []
        for _ in range(args.users):
            issued = emulator.control("/login_codes")
            response = ours.post("/api/v1/auth/login", json={"code": issued["code"]})
            checked(response, 200, "log-in")
            users.append((issued["openid"], {"Authorization": f"Bearer {response.json['token']}"}))
        # Call i of each phase goes to user i % users: each phase may give a user one call more
        # than an even share, so each phase's credits get a user's share plus one.
        per_phase = warm_and_rounds + args.users
        sends_of_ours = 2 * per_phase  # with and without an Idempotency-Key
        sends_at_wechat = sends_of_ours + 2 * per_phase  # and the two hand-written kinds
        if args.only != "reports":
            print(f"setup: {sends_at_wechat} credits at the emulator ...", flush=True)
            for i in range(sends_at_wechat):
                emulator.control("/popup", openid=users[i % args.users][0], results={TEMPLATE_ID: "accept"})

        def report(i: int, key: bool = False) -> None:
            headers = {**users[i % args.users][1], **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
            checked(
                ours.post("/api/v1/subscriptions", json={"results": {TEMPLATE_ID: "accept"}}, headers=headers),
                200,
                "report",
            )

        def report_theirs(i: int) -> None:
            openid = users[i % args.users][0]
            headers = {"Authorization": f"Bearer {hand.sign(openid, HANDWRITTEN_SECRET.encode())}"}
            checked(theirs.post("/report", json={"results": {TEMPLATE_ID: "accept"}}, headers=headers), 200, "report")

        def send(i: int, key: bool = False) -> None:
            headers = {**API_KEY, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
            body = {"openid": users[i % args.users][0], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
            checked(ours.post("/api/v1/messages", json=body, headers=headers), 201, "send")

        def send_theirs(path: str) -> Call:
            def call(i: int) -> None:
                body = {"openid": users[i % args.users][0], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
                checked(theirs.post(path, json=body, headers=API_KEY), 201, path)

            return call

        phases: list[tuple[str, Call]] = []
        if args.only != "sends":
            phases += [
                ("report ours", report),
                ("report ours, Idempotency-Key", lambda i: report(i, key=True)),
            ]
            if handwritten_url:
                phases.append(("report hand-written", report_theirs))
        if args.only != "reports":
            if args.only == "sends":  # the credits the reports would have given
                for i in range(sends_of_ours):
                    report(i)
            phases += [
                ("send ours", send),
                ("send ours, Idempotency-Key", lambda i: send(i, key=True)),
                ("send hand-written", send_theirs("/send")),
                ("send token-per-send", send_theirs("/send-token-per-send")),
            ]

        print(
            f"ours on {sa.engine.make_url(database_url).get_backend_name()}"
            f"{', Redis' if args.redis_url else ''}; {args.calls} calls a round, lowest of {args.rounds} rounds; "
            f"load average now {os.getloadavg()[0]:.1f}"
        )
        results = {}
        if os.environ.get(UNDER_CALLGRIND):
            callgrind("--instr=on")
            overhead = instructions(lambda i: None, 0, 1)  # zeroing and dumping, done by this process
            print(f"{'phase':<32} {'instructions/call (M)':>22}")
            for name, call in phases:
                n = warm(call, 0, args.calls)
                results[name] = (instructions(call, n, args.calls) - overhead) / args.calls / 1e6
                print(f"{name:<32} {results[name]:22.2f}", flush=True)
            phases = []
        else:
            print(f"{'phase':<32} {'CPU ms/call':>11} {'Python calls/call':>18}")
        for name, call in phases:
            cpu, next_call = measure(name, call, 0, args.calls, args.rounds)
            stats = profiled(call, next_call, args.calls)
            results[name] = cpu
            if args.dump:
                os.makedirs(args.dump, exist_ok=True)
                stats.dump_stats(os.path.join(args.dump, name.replace(" ", "_").replace(",", "") + ".pstats"))
            print(f"{name:<32} {cpu:11.2f} {stats.total_calls / args.calls:18.0f}", flush=True)
            if args.profile:
                print("    own time by part (share, µs per call under the profiler):")
                print("\n".join(breakdown(stats, args.calls)))
                print("    backend functions, cumulative per call (calls per call):")
                print("\n".join(backend_functions(stats, args.calls)))
        print()
        for ours_name, theirs_name in (
            ("report ours", "report hand-written"),
            ("send ours", "send hand-written"),
            ("send ours", "send token-per-send"),
        ):
            if ours_name in results and theirs_name in results:
                print(f"per call, {ours_name} / {theirs_name}: {results[ours_name] / results[theirs_name]:.2f}×")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
