"""Shared fixtures: the emulator on a loopback port, an app per database, a fresh schema per test.

The suite runs on SQLite always and on PostgreSQL when TEST_DATABASE_URL is set; Redis
tests need TEST_REDIS_URL. Under CI a missing one is an error, not a skip.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager

import pytest
import requests
import sqlalchemy as sa

from backend import create_app
from backend.extensions import db
from tests import personal_data
from tests.helpers import ENUM_TEMPLATE, LONG_TERM, ONE_TIME, MiniProgramUser, log_in
from wxemu import run_in_thread
from wxemu.defaults import DEV_APPID, DEV_SECRET

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
# Erasures made by tests are logged here, never in the project's instance folder.
ERASURE_LOG = os.path.join(tempfile.mkdtemp(prefix="wxsub-tests-"), "erasures.log")
REDIS_URL = os.environ.get("TEST_REDIS_URL")

# The command line speaks the machine's language (backend/ops/texts.py): the suite's English
# assertions hold whatever the developer's locale is; a test of the Chinese sets LANG itself.
for _locale in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_locale, None)
os.environ["LANG"] = "C.UTF-8"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_all_others: run after every other test of the session")
    personal_data.start_collecting()
    if os.environ.get("CI"):
        missing = [
            name for name, value in (("TEST_DATABASE_URL", POSTGRES_URL), ("TEST_REDIS_URL", REDIS_URL)) if not value
        ]
        if missing:
            raise pytest.UsageError(f"CI must test every database: {', '.join(missing)} not set")


class Emulator:
    """The running emulator and its control API."""

    def __init__(self, server) -> None:
        self.server = server
        self.url = server.url
        self.http = requests.Session()

    def control(self, method: str, path: str, **body):
        if path == "/phone_codes" and body.get("phone_number"):
            personal_data.phones.add(str(body["phone_number"]))
        response = self.http.request(method, f"{self.url}/_emulator{path}", json=body or None, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self.control("POST", "/reset")

    def calls(self, api: str | None = None) -> list[dict]:
        calls = self.control("GET", "/log")["calls"]
        return [call for call in calls if api is None or call["api"] == api]

    def login_code(self, **user) -> dict:
        issued = self.control("POST", "/login_codes", **user)
        personal_data.openids.add(issued["openid"])
        return issued

    def template(self, **template) -> dict:
        return self.control("POST", "/templates", **template)

    def fault(self, **fault) -> dict:
        return self.control("POST", "/faults", **fault)


@pytest.fixture(scope="session")
def emulator_server():
    server = run_in_thread()
    yield server
    server.shutdown()


@pytest.fixture
def emulator(emulator_server) -> Emulator:
    emu = Emulator(emulator_server)
    emu.reset()
    yield emu
    # What the emulator handed out, for tests/test_logs_personal_data.py to look for in the logs.
    try:
        calls = emu.calls("jscode2session")
    except requests.RequestException:  # a test that broke the emulator on purpose has its own verdict
        calls = []
    for call in calls:
        personal_data.session_keys.add(call.get("session_key") or "")
        personal_data.openids.add(call.get("openid") or "")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check of every log line of the run goes last: it reads what all the others logged."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_others") is not None)


def _database_params() -> list:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def reset_postgres(url: str) -> None:
    """An empty schema: drop whatever an earlier test or run left, then create every table."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


def app_config(database_url: str, emulator_url: str, **overrides) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WX_API_BASE": emulator_url,
        "WX_APPID": DEV_APPID,
        "WX_SECRET": DEV_SECRET,
        "WX_RETRY_BACKOFF": 0.0,
        "WX_READ_TIMEOUT": 2.0,
        "REDIS_URL": None,
        "BUSINESS_API_KEYS": ["test-api-key"],
        "ERASURE_LOG": ERASURE_LOG,
        **overrides,
    }


@contextmanager
def running_app(config: dict):
    """An app over a fresh schema; its connections are closed afterwards."""
    app = create_app(config)
    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(database_url, emulator):
    with running_app(app_config(database_url, emulator.url)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def wechat(app):
    """The app's WeChat client."""
    return app.extensions["apps"].only().client


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def templates(emulator):
    for template in (ONE_TIME, LONG_TERM, ENUM_TEMPLATE):
        emulator.template(**template)


@pytest.fixture
def user(client, emulator) -> MiniProgramUser:
    return log_in(client, emulator)


@pytest.fixture
def serve_app():
    """`serve_app(flask_app)` -> the URL of that app served on a loopback port (threaded), for
    callers outside the test (the emulator's pushes); each is shut down after the test."""
    import threading

    from werkzeug.serving import make_server

    servers = []

    def serve(flask_app) -> str:
        server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def live_backend(app, serve_app):
    """The test's app served on a loopback port (serve_app)."""
    return serve_app(app)
