"""Our backend under gunicorn, ready for load: a database with its tables, users logged in, credits at WeChat.

Shared by the benchmarks that run several servers side by side in one run (phases alternating).
A backend serves the emulator's default app (dev mode), or the apps of an apps file (WX_APPS_FILE).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend import create_app
from backend.apps import ONE_APP_VARIABLES
from backend.extensions import db
from backend.templates.catalog import sync_templates
from bench.client_throughput import Phase, run_load, tree_cpu
from bench.send_throughput import HTTP_TIMEOUT, TEMPLATE_ID, Http, LoadClient, _label, quiet_app_logs
from tests.helpers import API_KEY, GOOD_DATA
from tests.servers import Server, backend_env, gunicorn
from wxemu.defaults import DEV_APPID, DEV_SECRET

BENCH_SECRET_KEY = "bench-secret-key-not-for-production-0123456789"  # outside dev mode: 32+ characters
BENCH_DATA_KEY = "YmVuY2gtZGF0YS1rZXktbm90LWZvci1wcm9kdWN0aW8="  # outside dev mode: 32 bytes of base64


@dataclass
class Backend:
    """One server under test and its users (openid, appid with an apps file, Authorization header)."""

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
        user = self.users[i % len(self.users)]
        body = {"openid": user["openid"], "template_id": TEMPLATE_ID, "data": GOOD_DATA}
        if user.get("appid"):  # a key for every app names the app it sends for
            body["appid"] = user["appid"]
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
    apps_file: str | None = None,
    appids: Sequence[str] = (),
    platform_env: dict[str, str] | None = None,
    before_logins: Callable[[str], None] | None = None,
) -> Backend:
    """Tables created (the database must be empty), the templates synced, gunicorn started, users logged in.

    With `apps_file` (the emulator hosting its apps too) it serves those apps: user i logs in to
    `appids[i % len(appids)]`, and sends name their user's app. With `platform_env` (WX_COMPONENT_*,
    DATA_KEY) it is a third-party platform serving no app of its own: `before_logins(url)` gets the
    merchants `appids` authorized once gunicorn answers, and their templates are synced then.
    """
    apps_env = (
        {"WX_APPS_FILE": apps_file, "SECRET_KEY": BENCH_SECRET_KEY, "DATA_KEY": BENCH_DATA_KEY} if apps_file else {}
    )
    if platform_env:
        apps_env = {**platform_env, "SECRET_KEY": BENCH_SECRET_KEY, "DATA_KEY": BENCH_DATA_KEY}
    one_app = {"WX_APPID": DEV_APPID, "WX_SECRET": DEV_SECRET}
    if apps_file or platform_env:  # the file's apps (or the merchants') instead of the one app of the variables
        one_app = dict.fromkeys(ONE_APP_VARIABLES)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "WX_API_BASE": emulator.url,
            **one_app,
            **apps_env,
            "REDIS_URL": None,
            "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
        }
    )
    quiet_app_logs()
    with app.app_context():
        db.create_all()
        for served in app.extensions["apps"]:  # so that 32 first requests do not all look the template up
            sync_templates(served)
    stack.callback(_dispose, app)
    env = backend_env(database_url, emulator.url, **apps_env, **(extra_env or {}))
    server = stack.enter_context(gunicorn(env, workers, threads))
    if before_logins is not None:
        before_logins(server.url)
        with app.app_context():
            for served in app.extensions["apps"]:
                sync_templates(served)
    backend = Backend(name, server, [{} for _ in range(users)], LoadClient(server.url))
    stack.callback(backend.load.close)
    control = emulator_control(http, emulator)

    def log_in(i: int) -> str | None:
        appid = appids[i % len(appids)] if appids else None
        named = {"appid": appid} if appid else {}
        issued = control("/login_codes", **named)
        response = http.session().post(
            f"{server.url}/api/v1/auth/login", json={"code": issued["code"], **named}, timeout=HTTP_TIMEOUT
        )
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        token = response.json()["token"]
        backend.users[i] = {"openid": issued["openid"], "appid": appid, "auth": {"Authorization": f"Bearer {token}"}}
        return None

    logins = run_load(f"logins {name}", log_in, users, concurrency)
    if logins.failures:
        raise SystemExit(f"log-in at {name} failed: {dict(logins.failures)}")
    return backend


def give_wechat_credits(
    http: Http, emulator: Server, openids: list[str], each: int, concurrency: int, appids: Sequence[str | None] = ()
) -> Phase:
    """`each` popups per openid at the emulator (in `appids[n]` for openids[n], else the default app):
    WeChat then accepts that many sends to each."""
    control = emulator_control(http, emulator)
    owners = [n for n in range(len(openids)) for _ in range(each)]

    def popup(i: int) -> None:
        n = owners[i]
        app = {"appid": appids[n]} if appids and appids[n] else {}
        control("/popup", openid=openids[n], results={TEMPLATE_ID: "accept"}, **app)

    return run_load("emulator popups (setup)", popup, len(owners), concurrency)


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
