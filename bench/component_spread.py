"""Sends spread over 1, 20 and 200 merchant apps of a third-party platform: rate and CPU per send.

    .venv/bin/python bench/component_spread.py [--apps 1,20,200] [--calls N] [--rounds R]
        [--concurrency C] [--workers W] [--threads T] [--users U] [--latency-ms MS] [--database-url URL]

WARNING: it empties one PostgreSQL database per configuration, named after --database-url's with
`_component<N>` appended (created when missing).

bench/apps_spread.py's measurement, with the apps coming from authorizations instead of an apps
file: PostgreSQL, and per configuration one emulator (its own process, 20 ms latency) playing the
open platform (a platform pushes to one backend's URLs, so each backend has its own) and one backend
(W workers x T threads, gthread; default 2 x 16) configured as a platform
only (WX_COMPONENT_*, no app of its own). Before its users log in, N merchant apps authorize the
platform one after another (the emulator pushes the ticket and each `authorized` to the backend's
authorization event URL, the backend completes each with api_query_auth). U users (1700) per
backend, user u logged in to merchant u % N through the component jscode2session; one credit each,
given at WeChat by an emulator popup and pushed to the platform's message URL (then the pushes stop:
the sends' sent events are not pushed while measuring, as in bench/apps_spread.py). Then R rounds of sends, the
order rotating: each send names its user's app, so they go round-robin over the merchants, each on
its own authorizer token. It prints rate, p50 and p99, CPU per send by process, and each
configuration's CPU per send against one merchant's (the goal: no more with 20 or 200).
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

import sqlalchemy as sa  # noqa: E402

from backend.component.merchants import STATE_TTL  # noqa: E402
from bench.apps_spread import checked_args, run_and_report, spread_parser  # noqa: E402
from bench.backends import give_wechat_credits, start_backend  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    check_loopback,
    machine,
    stop_on_sigterm,
    tree_cpu,
)
from bench.send_throughput import (  # noqa: E402
    Http,
    postgres_server_pid,
    reset_schema,
)
from tests.helpers import ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402
from wxemu.component import DEFAULT_COMPONENT  # noqa: E402

DATA_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a bench's: never a real one
PLATFORM_ENV = {
    "WX_COMPONENT_APPID": DEFAULT_COMPONENT["appid"],
    "WX_COMPONENT_SECRET": DEFAULT_COMPONENT["secret"],
    "WX_COMPONENT_TOKEN": DEFAULT_COMPONENT["token"],
    "WX_COMPONENT_AES_KEY": DEFAULT_COMPONENT["encoding_aes_key"],
    "DATA_KEY": DATA_KEY,
    "RATE_LIMIT_LOGIN": "0",  # every user logs in from this one IP within a minute
}


def parse_args() -> argparse.Namespace:
    parser = spread_parser(__doc__, apps="1,20,200", calls=800, users=1700, what="merchant apps")
    args = checked_args(parser)
    # One credit per user: the credits arrive as platform pushes, and two popups of one user within the
    # same second are one push to the backend (its replay key holds CreateTime in seconds).
    if args.users < 2 * args.concurrency + args.rounds * args.calls:
        parser.error("--users must be at least 2 x --concurrency + --rounds x --calls (one credit per user)")
    return args


def merchants(count: int) -> list[str]:
    return [f"wxmerch{n:011d}" for n in range(1, count + 1)]


def database_for(url: str, count: int) -> str:
    target = sa.engine.make_url(url)
    return target.set(database=f"{target.database}_component{count}").render_as_string(hide_password=False)


def authorize_all(http: Http, emulator_url: str, appids: list[str], database_url: str):
    """A callback for start_backend: the platform pointed at `backend_url`, a ticket pushed, every merchant
    authorized one after another (each completed by the backend before the next)."""

    def run(backend_url: str) -> None:
        control = http.session().post
        urls = {
            "auth_url": f"{backend_url}/wechat/component/auth",
            "message_url": f"{backend_url}/wechat/component/push/$APPID$",
        }
        control(f"{emulator_url}/_emulator/component", json=urls).raise_for_status()
        control(f"{emulator_url}/_emulator/component/ticket").raise_for_status()
        for appid in appids:
            control(f"{emulator_url}/_emulator/component/authorize", json={"appid": appid}).raise_for_status()
            control(f"{emulator_url}/_emulator/templates", json={**ONE_TIME, "appid": appid}).raise_for_status()
        _wait_for_rows(database_url, len(appids))

    return run


def _wait_for_rows(database_url: str, count: int, seconds: float = 120.0) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                # Completed: api_query_auth answered and the refresh token is stored (until then
                # the app is unknown, 404, as the contract says); then one STATE_TTL for every
                # process to read the states again.
                done = sa.text("SELECT count(*) FROM authorized_apps WHERE refresh_token IS NOT NULL")
                if conn.scalar(done) >= count:
                    time.sleep(STATE_TTL + 0.5)
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise SystemExit(f"the backend did not complete {count} authorizations in {seconds:.0f} s")


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    check_loopback(args.database_url)
    conc, calls = args.concurrency, args.calls
    warm = 2 * conc
    per_config = warm + args.rounds * calls
    each = -(-per_config // args.users)  # credits per user

    with contextlib.ExitStack() as stack:
        http = Http()
        stack.callback(http.close)
        control = http.session().post
        emulators = []

        print(f"machine: {machine()}")
        print(
            f"setup: {len(args.apps)} platform backends ({', '.join(map(str, args.apps))} merchant apps) under "
            f"gunicorn {args.workers} workers x {args.threads} threads (gthread), PostgreSQL; an emulator per "
            f"backend in its own process with {args.latency_ms} ms latency; {conc} concurrent callers; "
            f"{calls} sends per phase after {warm} warm-up sends; {args.users} users per backend",
            flush=True,
        )
        backends = {}
        for count in args.apps:
            database_url = database_for(args.database_url, count)
            reset_schema(database_url)
            name = f"{count} merchant" + ("s" if count > 1 else "")
            emulator = stack.enter_context(emulator_process())
            control(f"{emulator.url}/_emulator/latency", json={"ms": args.latency_ms}).raise_for_status()
            emulators.append(emulator)
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
                appids=merchants(count),
                platform_env=PLATFORM_ENV,
                before_logins=authorize_all(http, emulator.url, merchants(count), database_url),
            )
            users = backend.users
            openids, owners = [u["openid"] for u in users], [u["appid"] for u in users]
            give_wechat_credits(http, emulator, openids, each, conc, appids=owners)  # pushed to the platform
            # No sent-event pushes while measuring, as in bench/apps_spread.py: the emulator pushes an app's
            # events one at a time, 50 ms apart, so one app's lag past its phase while 200 apps' do not,
            # and the CPU of handling them would land in the phases of the many-app backends only.
            http.session().delete(f"{emulator.url}/_emulator/push").raise_for_status()
            backends[f"sends {name}"] = backend

        postmaster = postgres_server_pid(database_for(args.database_url, args.apps[0]))

        def emulators_cpu() -> float:  # the column "emulator": every backend's emulator together
            return sum(tree_cpu(emulator.proc.pid) for emulator in emulators)

        run_and_report(backends, args, postmaster, emulators_cpu, "serving N merchant apps as a platform")


if __name__ == "__main__":
    main()
