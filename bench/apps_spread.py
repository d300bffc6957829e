"""Sends spread over 1, 2 and 20 mini programs in one backend: rate and CPU per send, same run, phases alternating.

    .venv/bin/python bench/apps_spread.py [--apps 1,2,20] [--calls N] [--rounds R] [--concurrency C]
        [--workers W] [--threads T] [--users U] [--latency-ms MS] [--database-url URL]

WARNING: it empties one PostgreSQL database per configuration, named after --database-url's
with `_apps<N>` appended (default: `bench_apps1`, `bench_apps2`, `bench_apps20`, created when
missing).

One emulator (its own process, 20 ms latency) hosting 20 apps from an apps file, PostgreSQL, and
one backend per configuration under the same gunicorn settings (W workers x T threads, gthread;
default 2 x 16), each reading an apps file (WX_APPS_FILE) of its first N apps: its own WeChat
client, access token and refresh lock per app. U users (100) per backend, user u logged in to
app u % N; their credits reported through POST /api/v1/subscriptions and given at WeChat by the
emulator's popups. Then R rounds of N sends through POST /api/v1/messages per configuration, the
order rotating each round: call i goes to user i % U, so the sends go round-robin over the apps,
each naming its app (`"appid"`, one business key for every app). It prints rate, p50 and p99 per
phase, CPU per send by process (read from /proc), and the CPU per send of each configuration
against one app's (the goal: no more with 2 or 20 apps).
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

import sqlalchemy as sa  # noqa: E402

from bench.backends import give_wechat_credits, start_backend  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    CpuMeter,
    check_loopback,
    cpu_table,
    failures_note,
    machine,
    process_cpu,
    run_load,
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
from tests.helpers import ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402

GOAL = 1.0  # CPU per send with N apps / with one app: at most


def parse_args() -> argparse.Namespace:
    parser = spread_parser(__doc__, apps="1,2,20", calls=1500, users=100, what="apps")
    return checked_args(parser)


def spread_parser(doc: str, *, apps: str, calls: int, users: int, what: str) -> argparse.ArgumentParser:
    """The options of a spread bench (this one's and bench/component_spread.py's), with their defaults."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--apps", default=apps, help=f"the configurations: {what} per backend ({apps})")
    parser.add_argument("--calls", type=int, default=calls, help=f"sends per phase ({calls})")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, order rotating (2)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (32)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every backend (2)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker, every backend (16)")
    parser.add_argument("--users", type=int, default=users, help=f"mini-program users per backend ({users})")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (20)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL base name (see WARNING)")
    return parser


def checked_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    args.apps = sorted({int(n) for n in args.apps.split(",")})
    if args.apps[0] < 1 or args.users < args.apps[-1]:
        parser.error("--apps must be positive and --users at least the largest number of apps")
    return args


def appids(count: int) -> list[str]:
    return [f"wxbench{n:011d}" for n in range(1, count + 1)]


def write_apps_file(folder: str, count: int) -> str:
    """An apps file of the first `count` bench apps (the backend's WX_APPS_FILE, the emulator's --apps-file)."""
    path = Path(folder, f"apps{count}.toml")
    path.write_text("".join(f'[[app]]\nappid = "{appid}"\nsecret = "secret-{appid}"\n\n' for appid in appids(count)))
    path.chmod(0o600)
    return str(path)


def database_for(url: str, count: int) -> str:
    target = sa.engine.make_url(url)
    return target.set(database=f"{target.database}_apps{count}").render_as_string(hide_password=False)


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    check_loopback(args.database_url)
    conc, calls = args.concurrency, args.calls
    warm = 2 * conc
    per_config = warm + args.rounds * calls  # sends per backend, warm-up included: one credit each
    each = -(-per_config // args.users)  # credits per user

    with contextlib.ExitStack() as stack:
        http = Http()
        stack.callback(http.close)
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-apps-"))
        emulator = stack.enter_context(emulator_process(apps_file=write_apps_file(folder, args.apps[-1])))
        control = http.session().post
        control(f"{emulator.url}/_emulator/latency", json={"ms": args.latency_ms}).raise_for_status()
        for appid in appids(args.apps[-1]):
            control(f"{emulator.url}/_emulator/templates", json={**ONE_TIME, "appid": appid}).raise_for_status()

        print(f"machine: {machine()}")
        print(
            f"setup: {len(args.apps)} backends ({', '.join(map(str, args.apps))} apps) under gunicorn "
            f"{args.workers} workers x {args.threads} threads (gthread), PostgreSQL; emulator in its own process "
            f"with {args.latency_ms} ms latency; {conc} concurrent callers; {calls} sends per phase after {warm} "
            f"warm-up sends; {args.users} users per backend",
            flush=True,
        )
        backends = {}
        for count in args.apps:
            database_url = database_for(args.database_url, count)
            reset_schema(database_url)
            name = f"{count} app" + ("s" if count > 1 else "")
            backend = start_backend(
                stack,
                name,
                database_url,
                emulator,
                http,
                users=args.users,
                concurrency=conc,
                workers=args.workers,
                threads=args.threads,
                apps_file=write_apps_file(folder, count),
                appids=appids(count),
            )
            users = backend.users
            reports = run_load(f"reports {name} (setup)", backend.report, each * len(users), conc)
            if reports.failures:
                raise SystemExit(f"reports at {name} failed: {dict(reports.failures)}")
            openids, owners = [u["openid"] for u in users], [u["appid"] for u in users]
            give_wechat_credits(http, emulator, openids, each, conc, appids=owners)
            backends[f"sends {name}"] = backend

        postmaster = postgres_server_pid(database_for(args.database_url, args.apps[0]))
        run_and_report(backends, args, postmaster, lambda: tree_cpu(emulator.proc.pid), "serving N apps")


def run_and_report(backends: dict, args: argparse.Namespace, postmaster: int, emulator_cpu, serving: str) -> None:
    """Warm up every backend, run R rounds of sends with the order rotating, print the tables and each
    configuration's CPU per send against the first's (bench/component_spread.py uses it too)."""
    conc, calls = args.concurrency, args.calls
    warm = 2 * conc
    meter = CpuMeter(
        {
            "bench": lambda: process_cpu(os.getpid()),
            **{_short(name): backend.cpu for name, backend in backends.items()},
            "postgres": lambda: tree_cpu(postmaster),
            "emulator": emulator_cpu,
        }
    )
    for name, backend in backends.items():
        warm_up(name, backend.send, warm, conc)
    measured = {name: [] for name in backends}
    for round_ in range(args.rounds):
        names = list(backends)
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            offset = warm + round_ * calls
            measured[name].append(measure(f"{name} #{round_ + 1}", backends[name].send, offset, calls, conc, meter))

    rows = [row for runs in measured.values() for row in runs]
    totals = {name: combined(name, runs) for name, runs in measured.items()}
    rows += list(totals.values())
    print()
    print(table([phase for phase, _ in rows]))
    print(failures_note([phase for phase, _ in rows]))
    print()
    print(cpu_table(rows))
    print(f"(gunicorn-<N> = master + workers of the backend {serving}; postgres = the whole server)")
    print()
    one, *others = totals
    for name in others:
        for what, groups in (("backend", ()), ("backend + postgres + emulator", ("postgres", "emulator"))):
            ratio = _cpu_per_send(name, totals[name], groups) / _cpu_per_send(one, totals[one], groups)
            verdict = "met" if ratio <= GOAL else "NOT met"
            print(f"CPU per send of the {what}, {name} / {one}: {ratio:.2f}   (goal <= {GOAL}: {verdict})")


def _short(name: str) -> str:
    """The CPU column of a backend: `gunicorn-<apps>`."""
    return "gunicorn-" + name.split()[1]


def _cpu_per_send(name: str, total, groups: tuple[str, ...]) -> float:
    """CPU seconds per send of the backend that made them (its gunicorn), plus `groups`."""
    phase, used = total
    return sum(used[group] for group in (_short(name), *groups)) / max(phase.calls, 1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
