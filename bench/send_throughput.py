"""Sends per second through POST /api/v1/messages, beside the bare client loop, and reports per second.

    .venv/bin/python bench/send_throughput.py [--calls N] [--rounds R] [--concurrency C] [--workers W]
                                             [--threads T] [--users U] [--latency-ms MS] [--database-url URL]

WARNING: it empties the database it is given (DROP SCHEMA public CASCADE). The default,
postgresql+psycopg://postgres@127.0.0.1:5432/bench, is a database of its own, created when
missing, so that a test run on `test` (whose fixtures reset that schema too) and a benchmark
never wipe each other's tables.

Everything runs on 127.0.0.1: the emulator in its own process with injected latency (20 ms),
the backend under gunicorn (2 workers, gthread), PostgreSQL. In one run:
1. setup: schema reset and tables created here (create_app + db.create_all), the template
   synced, U users (100) logged in through POST /api/v1/auth/login with emulator codes, and the
   emulator's popups giving each user its credits at WeChat (for both send phases);
2. reports: POST /api/v1/subscriptions {"results": {tid: "accept"}} from C clients (32),
   one credit each: R x N reports after a warm-up (the credits of the API sends);
3. sends, R rounds of each kind, alternating (API, bare, bare, API, ...) so that both kinds
   see the same machine (a shared VM's speed drifts within a minute):
   - API: POST /api/v1/messages with X-Api-Key from C clients, N sends;
   - bare: C threads calling WeChatClient.subscribe.send directly (the client the app builds)
     on the same emulator, N sends;
   - async: POST /api/v1/messages with `Prefer: respond-async` (202 once written), N sends
     (deliveries by the web processes' threads: no Redis);
     after each round the bench waits until the web processes' delivery threads have settled
     them, and prints that round's delivery rate too (first request to last settled), so that
     the next round does not share the machine with them.
   Each kind warms up first.
It prints figures only (rate, p50, p99, non-2xx counts), the ratio API/bare of the rates over
all rounds, and the async rates beside the synchronous ones: no pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import Message, Subscription  # noqa: E402
from backend.templates.catalog import sync_templates  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    CpuMeter,
    Phase,
    check_loopback,
    cpu_table,
    failures_note,
    machine,
    parent_of,
    process_cpu,
    run_load,
    stop_on_sigterm,
    table,
    tree_cpu,
)
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from tests.servers import backend_env, emulator_process, gunicorn  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
TEMPLATE_ID = ONE_TIME["priTmplId"]
HTTP_TIMEOUT = 30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="sends (and reports) per measurement (2000)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each kind of send, alternating (2)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients / threads (32)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker (16)")
    parser.add_argument("--users", type=int, default=100, help="mini-program users the sends go to (100)")
    parser.add_argument("--latency-ms", type=int, default=20, help="latency the emulator injects (20)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL to EMPTY and use")
    parser.add_argument("--skip-bare", action="store_true", help="measure the API only (for profiling)")
    parser.add_argument("--skip-async", action="store_true", help="no `Prefer: respond-async` sends")
    return parser.parse_args()


class Http:
    """One keep-alive session per client thread, as C independent callers would have."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[requests.Session] = []

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0))
            self._all.append(session)
        return session

    def close(self) -> None:
        for session in self._all:
            session.close()


class LoadClient:
    """The measured phases' callers: one keep-alive http.client connection per thread.

    The callers stand for business code and mini programs on other machines. On this 2-core box
    their CPU is taken from the server under test, so they are kept cheap: a `requests` call costs
    ~1 ms of CPU here, a bare http.client call about a third of it.
    """

    def __init__(self, base_url: str) -> None:
        parsed = urlsplit(base_url)
        self._host, self._port = parsed.hostname, parsed.port
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []

    def post_json(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self._host, self._port, timeout=HTTP_TIMEOUT
            )
            self._all.append(connection)
        try:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnects on the next call
            raise

    def close(self) -> None:
        for connection in self._all:
            connection.close()


def ensure_database(url: str) -> None:
    """CREATE DATABASE when the server has no database of that name yet."""
    target = sa.engine.make_url(url)
    engine = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database})
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        engine.dispose()


def postgres_server_pid(url: str) -> int:
    """The postmaster: the parent of the backend serving a connection (on this machine)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            backend = conn.scalar(sa.text("SELECT pg_backend_pid()"))
            postmaster = parent_of(backend)
    finally:
        engine.dispose()
    if postmaster is None:
        raise SystemExit("cannot see the PostgreSQL server's processes (is it on this machine?)")
    return postmaster


def reset_schema(url: str) -> None:
    ensure_database(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def quiet_app_logs() -> None:
    """The app's JSON logs go to /dev/null in this process, as the workers' do (their stderr is /dev/null)."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for name in ("backend", "backend.wechat", "backend.requests"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)


def counts_per_user(total: int, users: int) -> list[int]:
    """Call i goes to user i % users: how many calls each user gets."""
    return [total // users + (1 if u < total % users else 0) for u in range(users)]


def main() -> None:
    args = parse_args()
    stop_on_sigterm()
    check_loopback(args.database_url)
    if sa.engine.make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be PostgreSQL (the schema is reset with DROP SCHEMA)")
    conc, calls = args.concurrency, args.calls
    warm = 2 * conc
    per_kind = warm + args.rounds * calls  # sends of each kind, warm-up included: one credit each

    with contextlib.ExitStack() as stack:
        http = Http()
        stack.callback(http.close)

        print(f"machine: {machine()}")
        print(
            f"setup: gunicorn {args.workers} workers x {args.threads} threads (gthread), PostgreSQL, "
            f"emulator in its own process with {args.latency_ms} ms latency, {conc} concurrent clients, "
            f"{calls} calls per measurement after {warm} warm-up calls, {args.users} users",
            flush=True,
        )
        reset_schema(args.database_url)
        emulator = stack.enter_context(emulator_process())

        def control(path: str, **body) -> dict:
            response = http.session().post(f"{emulator.url}/_emulator{path}", json=body, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            return response.json()

        control("/latency", ms=args.latency_ms)
        control("/templates", **ONE_TIME)

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": args.database_url,
                "WX_API_BASE": emulator.url,
                "WX_APPID": DEV_APPID,
                "WX_SECRET": DEV_SECRET,
                "REDIS_URL": None,
                "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
            }
        )
        quiet_app_logs()
        with app.app_context():
            db.create_all()
            sync_templates(app.extensions["apps"].only())  # so that 32 first requests do not all look the template up
        stack.callback(_dispose, app)

        env = backend_env(args.database_url, emulator.url)
        server = stack.enter_context(gunicorn(env, args.workers, args.threads))

        load = LoadClient(server.url)
        stack.callback(load.close)
        postmaster = postgres_server_pid(args.database_url)
        meter = CpuMeter(
            {
                "bench": lambda: process_cpu(os.getpid()),
                "gunicorn": lambda: tree_cpu(server.proc.pid),
                "postgres": lambda: tree_cpu(postmaster),
                "emulator": lambda: tree_cpu(emulator.proc.pid),
            }
        )

        # Users: an emulator login code each, exchanged at the backend.
        users: list[dict] = [{} for _ in range(args.users)]

        def log_in(i: int) -> str | None:
            issued = control("/login_codes")
            response = http.session().post(
                f"{server.url}/api/v1/auth/login", json={"code": issued["code"]}, timeout=HTTP_TIMEOUT
            )
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            users[i] = {"openid": issued["openid"], "auth": {"Authorization": f"Bearer {response.json()['token']}"}}
            return None

        logins = run_load("logins", log_in, args.users, conc)
        if logins.failures:
            raise SystemExit(f"log-in failed: {dict(logins.failures)}")

        # Credits at WeChat (the emulator) for every send of every send phase.
        send_kinds = 2 if args.skip_async else 3
        popups_per_user = [send_kinds * n for n in counts_per_user(per_kind, args.users)]
        popup_owner = [u for u, n in enumerate(popups_per_user) for _ in range(n)]

        def popup(i: int) -> str | None:
            control("/popup", openid=users[popup_owner[i]]["openid"], results={TEMPLATE_ID: "accept"})
            return None

        popups = run_load("emulator popups (setup)", popup, len(popup_owner), conc)

        # Phase 1: consent reports, one credit each at the backend.
        def report(i: int) -> str | None:
            status, body = load.post_json(
                "/api/v1/subscriptions", {"results": {TEMPLATE_ID: "accept"}}, users[i % args.users]["auth"]
            )
            return None if status == 200 else _label(status, body)

        warm_up("reports POST /subscriptions", report, warm, conc)
        reports = measure("reports POST /subscriptions", report, warm, args.rounds * calls, conc, meter)
        if not args.skip_async:  # the async sends' credits, not measured
            run_load("reports for the async sends (setup)", report, per_kind, conc)

        # Phase 2: sends through the API, and the bare client loop (the client the app builds) on
        # the same emulator, alternating.
        def api_send(i: int) -> str | None:
            body = {"openid": users[i % args.users]["openid"], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
            status, response = load.post_json("/api/v1/messages", body, API_KEY)
            return None if status == 201 else _label(status, response)

        client = app.extensions["apps"].only().client

        def bare_send(i: int) -> str | None:
            msgid = client.subscribe.send(users[i % args.users]["openid"], TEMPLATE_ID, GOOD_DATA)
            return None if msgid else "no msgid"

        def async_send(i: int) -> str | None:
            body = {"openid": users[i % args.users]["openid"], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
            status, response = load.post_json("/api/v1/messages", body, {**API_KEY, "Prefer": "respond-async"})
            return None if status == 202 else _label(status, response)

        kinds = {"sends POST /messages": api_send} | ({} if args.skip_bare else {"sends WeChatClient bare": bare_send})
        if not args.skip_async:
            kinds[ASYNC] = async_send
        for name, call in kinds.items():
            warm_up(name, call, warm, conc)
            if name == ASYNC:
                settled_after(app, time.perf_counter())
        sends: dict[str, list[tuple[Phase, dict[str, float]]]] = {name: [] for name in kinds}
        deliveries: list[Phase] = []
        for round_ in range(args.rounds):
            order = list(kinds) if round_ % 2 == 0 else list(reversed(kinds))
            for name in order:
                offset = warm + round_ * calls
                began = time.perf_counter()
                sends[name].append(measure(f"{name} #{round_ + 1}", kinds[name], offset, calls, conc, meter))
                if name == ASYNC:
                    deliveries.append(settled_after(app, began, f"async delivered #{round_ + 1}", calls))

        # Sanity: what the emulator delivered and what the backend recorded.
        with app.app_context():
            sent_rows = db.session.scalar(sa.select(sa.func.count()).where(Message.status == "sent"))
            left = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Subscription.remaining), 0)))
        delivered = len(http.session().get(f"{emulator.url}/_emulator/sent", timeout=HTTP_TIMEOUT).json())

        totals = {name: combined(name, measured) for name, measured in sends.items()}
        rows = [reports, *(row for measured in sends.values() for row in measured), *totals.values()]
        phases = [phase for phase, _ in rows]
        print()
        print(f"setup: {logins.calls} logins at {logins.rate:.0f}/s, {popups.calls} emulator popups")
        print(table(phases))
        print("non-2xx / failures (measured calls):", failures_note(phases).removeprefix("failures:").strip())
        if "sends WeChatClient bare" in totals:
            api, bare = totals["sends POST /messages"][0], totals["sends WeChatClient bare"][0]
            print(f"ratio API/bare (sends/s, all rounds): {api.rate / bare.rate:.2f}   (goal: >= 0.50)")
        if ASYNC in totals:
            api, accepted = totals["sends POST /messages"][0], totals[ASYNC][0]
            delivery_rate = sum(p.calls for p in deliveries) / sum(p.seconds for p in deliveries)
            print(
                f"respond-async: {accepted.rate:.1f} accepted/s (202), {delivery_rate:.1f} delivered/s "
                f"(first request to last settled), beside {api.rate:.1f} synchronous sends/s (201)"
            )
        print(
            f"check: backend messages sent {sent_rows} (warm-up included), credits left {left}, "
            f"emulator delivered {delivered}"
        )
        print()
        print(cpu_table(rows))
        print(
            "(bench = the load generator, or the client itself in the bare loop; gunicorn = master + workers;"
            " postgres = the whole server, other databases' clients included)"
        )


ASYNC = "sends async (Prefer)"


def settled_after(app, began: float, name: str = "", calls: int = 0) -> Phase:
    """Wait until no message is queued or being sent (the async sends are settled); the phase
    from `began` to then: `calls` deliveries over those seconds."""
    while True:
        with app.app_context():
            open_ = db.session.scalar(sa.select(sa.func.count()).where(Message.status.in_(("queued", "sending"))))
            db.session.remove()
        if not open_:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    phase = Phase(name, seconds, [seconds] * calls)
    if name:
        print(f"  {name}: {phase.rate:.1f}/s ({calls} settled in {seconds:.2f} s)", flush=True)
    return phase


def warm_up(name: str, call, warm: int, conc: int) -> None:
    """Calls 0 .. warm-1, not measured (connections, prepared statements, caches)."""
    result = run_load(f"warm-up {name}", call, warm, conc)
    if result.failures:
        print(f"  warm-up {name}: failures {dict(result.failures)}", flush=True)


def measure(name: str, call, offset: int, calls: int, conc: int, meter: CpuMeter) -> tuple[Phase, dict[str, float]]:
    """`calls` measured calls, numbered from `offset` (so that users rotate), with the CPU they used."""
    before = meter.snapshot()
    phase = run_load(name, lambda i: call(offset + i), calls, conc)
    cpu = meter.since(before)
    print(f"  {name}: {phase.rate:.1f}/s, p50 {phase.percentile_ms(50):.1f} ms", flush=True)
    return phase, cpu


def combined(name: str, measured: list[tuple[Phase, dict[str, float]]]) -> tuple[Phase, dict[str, float]]:
    """All rounds of one kind as one phase: calls over seconds, latencies and CPU pooled."""
    phases = [phase for phase, _ in measured]
    phase = Phase(
        f"{name} (all)",
        sum(p.seconds for p in phases),
        [latency for p in phases for latency in p.latencies],
        sum((p.failures for p in phases), Counter()),
    )
    cpu = {group: sum(used[group] for _, used in measured) for group in measured[0][1]}
    return phase, cpu


def _label(status: int, body: bytes) -> str:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"HTTP {status} {code}"


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        sys.exit(130)
