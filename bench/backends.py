"""Our backend under gunicorn, ready for load: a database with its tables, users logged in, credits at WeChat.

Shared by the benchmarks that run several servers side by side in one run (phases alternating).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend import create_app
from backend.emulator.defaults import DEV_APPID, DEV_SECRET
from backend.extensions import db
from backend.services.templates import sync_templates
from bench.client_throughput import Phase, run_load, tree_cpu
from bench.send_throughput import HTTP_TIMEOUT, TEMPLATE_ID, Http, LoadClient, _label, quiet_app_logs
from tests.helpers import API_KEY, GOOD_DATA
from tests.servers import Server, backend_env, gunicorn


@dataclass
class Backend:
    """One server under test and its users (openid, Authorization header)."""

    name: str
    server: Server
    users: list[dict] = field(default_factory=list)
    load: LoadClient | None = None
    idempotency: bool = False  # an Idempotency-Key (unique per call) on every report and send

    def _headers(self, headers: dict[str, str], kind: str, i: int) -> dict[str, str]:
        return {**headers, "Idempotency-Key": f"{kind}-{i}"} if self.idempotency else headers

    def cpu(self) -> float:
        return tree_cpu(self.server.proc.pid)

    def workers_threads(self) -> str:
        """What gunicorn runs, read from its command line and the processes (gunicorn.conf.py may choose)."""
        workers = len(
            [pid for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == self.server.proc.pid]
        )
        threads = _option(self.server.proc.args, "--threads")
        return f"{workers} workers x {threads or 'gunicorn.conf.py'} threads"

    def report(self, i: int) -> str | None:
        """One consent report: the popup's "accept" of user i % users, one credit."""
        user = self.users[i % len(self.users)]
        headers = self._headers(user["auth"], "report", i)
        status, body = self.load.post_json("/api/v1/subscriptions", {"results": {TEMPLATE_ID: "accept"}}, headers)
        return None if status == 200 else _label(status, body)

    def send(self, i: int) -> str | None:
        body = {"openid": self.users[i % len(self.users)]["openid"], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
        status, response = self.load.post_json("/api/v1/messages", body, self._headers(API_KEY, "send", i))
        return None if status == 201 else _label(status, response)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def emulator_control(http: Http, emulator: Server) -> Callable[..., dict]:
    def control(path: str, **body) -> dict:
        response = http.session().post(f"{emulator.url}/_emulator{path}", json=body, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    return control


def start_backend(
    stack: contextlib.ExitStack,
    name: str,
    database_url: str,
    emulator: Server,
    http: Http,
    *,
    users: int,
    concurrency: int,
    workers: int | None,
    threads: int | None,
    extra_env: dict[str, str] | None = None,
) -> Backend:
    """Tables created (the database must be empty), the template synced, gunicorn started, users logged in."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
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
    server = stack.enter_context(
        gunicorn(backend_env(database_url, emulator.url, **(extra_env or {})), workers, threads)
    )
    backend = Backend(name, server, [{} for _ in range(users)], LoadClient(server.url))
    stack.callback(backend.load.close)
    control = emulator_control(http, emulator)

    def log_in(i: int) -> str | None:
        issued = control("/login_codes")
        response = http.session().post(
            f"{server.url}/api/v1/auth/login", json={"code": issued["code"]}, timeout=HTTP_TIMEOUT
        )
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        backend.users[i] = {"openid": issued["openid"], "auth": {"Authorization": f"Bearer {response.json()['token']}"}}
        return None

    logins = run_load(f"logins {name}", log_in, users, concurrency)
    if logins.failures:
        raise SystemExit(f"log-in at {name} failed: {dict(logins.failures)}")
    return backend


def give_wechat_credits(http: Http, emulator: Server, openids: list[str], each: int, concurrency: int) -> Phase:
    """`each` popups per openid at the emulator: WeChat then accepts that many sends to each."""
    control = emulator_control(http, emulator)
    owners = [openid for openid in openids for _ in range(each)]
    return run_load(
        "emulator popups (setup)",
        lambda i: control("/popup", openid=owners[i], results={TEMPLATE_ID: "accept"}) and None,
        len(owners),
        concurrency,
    )


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def count(database_url: str, sql: str) -> int:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(sql)) or 0)
    finally:
        engine.dispose()
