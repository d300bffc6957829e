"""Redis down: no endpoint answers 500, the instance still serves, and nothing is lost or sent twice.

Redis is "down" in two ways here: a port where nothing listens (or that hangs up at once),
and a real `redis-server` started by the test on its own port and killed with SIGKILL in
the middle of the run. The shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis
import sqlalchemy as sa

from backend import create_app
from backend.delivery import outbox
from backend.extensions import db
from backend.models import Batch, Message
from tests.conftest import POSTGRES_URL, app_config, reset_postgres
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, log_in, report, send
from tests.servers import ROOT, free_port

T1 = ONE_TIME["priTmplId"]


@pytest.fixture
def redis_app():
    """Make apps (processes' worth) pointed at a Redis URL; their connections closed afterwards."""
    apps = []

    def make(database_url: str, emulator_url: str, redis_url: str, **overrides):
        app = create_app(app_config(database_url, emulator_url, REDIS_URL=redis_url, **overrides))
        apps.append(app)
        with app.app_context():
            db.create_all()
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


class HangingUp:
    """A port that accepts connections and closes them at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hanging_up():
    port = HangingUp()
    yield port
    port.close()


def test_redis_down_is_degraded_not_down(redis_app, database_url, emulator, unused_port):
    app = redis_app(database_url, emulator.url, f"redis://127.0.0.1:{unused_port}/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "degraded", "database": "ok", "redis": "down"}


def test_an_outage_is_tried_once_per_retry_after_not_per_request(
    redis_app, database_url, emulator, templates, hanging_up
):
    app = redis_app(
        database_url, emulator.url, f"redis://127.0.0.1:{hanging_up.port}/0", REDIS_RETRY_AFTER=3600, RATE_LIMIT_LOGIN=5
    )
    client = app.test_client()
    users = [log_in(client, emulator) for _ in range(5)]  # each counted by the rate limit
    assert [report(client, user, {T1: "accept"}).status_code for user in users] == [200] * 5
    assert client.get("/healthz").json["redis"] == "down"
    assert hanging_up.connections == 1  # the first failure is remembered: no retry storm
    # and the limit still holds, counted in this process
    assert_error(client.post("/api/v1/auth/login", json={"code": emulator.login_code()["code"]}), 429, "rate_limited")


def test_the_outage_is_logged_sampled_without_the_password(redis_app, database_url, emulator, unused_port, capfd):
    app = redis_app(
        database_url, emulator.url, f"redis://:s3cret-redis-pw@127.0.0.1:{unused_port}/0", REDIS_RETRY_AFTER=0
    )
    client = app.test_client()
    for _ in range(5):
        assert client.get("/healthz").json["redis"] == "down"  # tried every time: retry after 0 s
    err = capfd.readouterr().err
    assert "s3cret-redis-pw" not in err
    assert err.count('"redis unavailable"') == 1 and f"redis://127.0.0.1:{unused_port}/0" in err


def test_a_redis_error_left_unguarded_is_503_not_500(app, client):
    @app.get("/needs-redis")
    def needs_redis():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    response = client.get("/needs-redis")
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


# -- a real Redis server, killed mid-run ---------------------------------------------------


class RedisServer:
    """`redis-server` on its own port, in memory only; `kill` is SIGKILL, `start` again on the same port."""

    def __init__(self, directory) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*args, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    yield server
    server.kill()


def wait_for_redis(client, seconds: float = 30) -> None:
    """Until the backend sees Redis again (it retries REDIS_RETRY_AFTER after its last failure)."""
    deadline = time.monotonic() + seconds
    while client.get("/healthz").json["redis"] != "ok":
        assert time.monotonic() < deadline, "the backend did not see Redis come back"
        time.sleep(0.1)


def run_worker_burst(app, redis_url: str) -> None:
    """`flask wx worker --burst`: deliver what the queue holds, then exit."""
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "WX_API_BASE": app.config["WX_API_BASE"],
        "WX_APPID": "",
        "WX_SECRET": "",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "wx", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.postgres
def test_redis_killed_mid_run(redis_app, emulator, templates, redis_server):
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set (the worker process shares the database)")
    reset_postgres(POSTGRES_URL)
    app = redis_app(POSTGRES_URL, emulator.url, redis_server.url, REDIS_RETRY_AFTER=0.5, REQUEUE_AFTER=0)
    client = app.test_client()

    # Redis up: log-ins and reports counted there, the access token kept there.
    a, b = log_in(client, emulator), log_in(client, emulator)
    accept(client, emulator, a, times=3)
    accept(client, emulator, b, times=2)
    assert send(client, {"openid": a.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
    shared = redis.Redis.from_url(redis_server.url)
    assert shared.keys("wxsub:access_token:*") and shared.keys("wxsub:rate:*")

    redis_server.kill()

    # Redis down: every endpoint still serves.
    c = log_in(client, emulator)  # log-in
    accept(client, emulator, c)  # report
    assert send(client, {"openid": b.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
    started_during_outage = redis_app(POSTGRES_URL, emulator.url, redis_server.url)  # its token: the database's
    sent = send(started_during_outage.test_client(), {"openid": a.openid, "template_id": T1, "data": GOOD_DATA})
    assert sent.status_code == 201, sent.json
    recipients = [{"openid": user.openid, "data": {"thing1": f"batch {n}"}} for n, user in enumerate((a, b, c))]
    body = {"template_id": T1, "data": {"time2": "15:01"}, "recipients": recipients}
    key = {"Idempotency-Key": "outage-batch-1"}
    first = client.post("/api/v1/batches", json=body, headers={**API_KEY, **key})
    assert first.status_code == 202, first.json  # committed, so answered, though not queued yet
    assert first.json["counts"] == {"queued": 3}
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {"status": "degraded", "database": "ok", "redis": "down"}
    with app.app_context():
        assert outbox.sweep() == {"unknown": 0, "requeued": 0}  # the sweep survives, and leaves them queued
        assert set(db.session.scalars(sa.select(Message.status).where(Message.batch_id.is_not(None)))) == {"queued"}

    redis_server.start()  # the same port, empty
    wait_for_redis(client)

    retry = client.post("/api/v1/batches", json=body, headers={**API_KEY, **key})
    assert retry.status_code == 202 and retry.json["id"] == first.json["id"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Batch)) == 1
        assert outbox.sweep() == {"unknown": 0, "requeued": 3}  # queued once Redis is back
    run_worker_burst(app, redis_server.url)

    done = client.get(f"/api/v1/batches/{first.json['id']}", headers=API_KEY).json
    assert done["status"] == "done" and done["counts"] == {"sent": 3}
    delivered = emulator.control("GET", "/sent")
    batch_messages = Counter(m["touser"] for m in delivered if m["data"]["thing1"]["value"].startswith("batch "))
    assert batch_messages == {a.openid: 1, b.openid: 1, c.openid: 1}
    assert len(delivered) == 6  # the three single sends and the batch's three, each once
