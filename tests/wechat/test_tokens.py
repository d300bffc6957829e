"""The shared token store: leases, compare-then-expire, one fetch across threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from backend import create_app
from backend.extensions import db
from backend.infra.token_storage import DatabaseTokenStore
from backend.models import AccessToken
from backend.wechat.tokens import CachedToken, RedisTokenStore, TokenManager
from tests.conftest import REDIS_URL, app_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, app):
    if request.param == "database":
        with app.app_context():
            yield DatabaseTokenStore(db.engine, "test-token")
        return
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    client = redis.Redis.from_url(REDIS_URL)
    store = RedisTokenStore(client, f"test-token:{time.time_ns()}")
    yield store
    client.delete(store.key, store.lease_key)


def test_lease_is_exclusive_until_released(store):
    assert store.try_lease("a", 10)
    assert not store.try_lease("b", 10)
    store.release("b")  # not b's to release
    assert not store.try_lease("b", 10)
    store.release("a")
    assert store.try_lease("b", 10)


def test_expired_lease_can_be_taken(store):
    assert store.try_lease("a", 0.05)
    time.sleep(0.1)
    assert store.try_lease("b", 10)


def test_save_needs_the_lease(store):
    assert store.try_lease("a", 10)
    store.save("b", CachedToken("stolen", time.time() + 100))
    assert store.read() is None
    store.save("a", CachedToken("mine", time.time() + 100))
    assert store.read().token == "mine"


def test_compare_then_expire(store):
    assert store.try_lease("a", 10)
    store.save("a", CachedToken("new", time.time() + 100))
    assert not store.expire_if("old")  # someone already replaced the token that failed
    assert store.read().token == "new"
    assert store.expire_if("new")
    assert store.read() is None


def test_threads_make_one_fetch(store):
    fetches = []

    def fetch():
        fetches.append(1)
        time.sleep(0.05)
        return f"token-{len(fetches)}", 7200

    managers = [TokenManager(store, fetch) for _ in range(4)]  # four "processes"
    got: list[str] = []
    threads = [threading.Thread(target=lambda m=m: got.append(m.get())) for m in managers for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fetches) == 1
    assert set(got) == {"token-1"}


def test_remaining_lifetime_counts_from_the_fetch(store):
    start = time.time()
    clock = [start]
    manager = TokenManager(store, lambda: ("t1", 400), clock=lambda: clock[0], refresh_margin=120)
    manager.get()
    assert store.read().expires_at == start + 400
    clock[0] = start + 100
    assert manager.get() == "t1"
    clock[0] = start + 290  # 110 s left: inside the margin, time to refresh
    manager.fetch = lambda: ("t2", 7200)
    assert manager.get() == "t2"


def test_old_token_used_while_another_refreshes(store):
    store.try_lease("setup", 10)
    store.save("setup", CachedToken("old", time.time() + 60))  # inside the 120 s margin
    assert store.try_lease("other-process", 10)
    manager = TokenManager(store, lambda: pytest.fail("must not fetch while another process refreshes"))
    assert manager.get() == "old"


def test_while_redis_is_down_the_token_lives_in_the_database(app, emulator, unused_port):
    config = app_config(
        app.config["SQLALCHEMY_DATABASE_URI"], emulator.url, REDIS_URL=f"redis://127.0.0.1:{unused_port}/0"
    )
    first, second = create_app(config), create_app(config)  # two processes' worth
    tokens = [first.extensions["apps"].only().client.tokens.get(), second.extensions["apps"].only().client.tokens.get()]
    assert tokens[0] == tokens[1] and len(emulator.calls("stable_token")) == 1  # shared through the database
    with app.app_context():
        assert db.session.scalar(sa.select(AccessToken.token)) == tokens[0]
    for other in (first, second):
        with other.app_context():
            db.engine.dispose()


WORKER = """
import json, os, sys
from backend import create_app
config = json.loads(os.environ["WORKER_CONFIG"])
app = create_app(config)
client = app.extensions["apps"].only().client
for _ in range(int(os.environ["CALLS"])):
    client.templates.list()
print(client.tokens.fetches)
"""


def run_processes(config: dict, count: int, calls: int) -> list[int]:
    env = {**os.environ, "WORKER_CONFIG": json.dumps(config), "CALLS": str(calls), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    return [int(out.strip().splitlines()[-1]) for out in outputs]


@pytest.mark.slow
def test_two_processes_share_one_token(app, emulator):
    config = app_config(app.config["SQLALCHEMY_DATABASE_URI"], emulator.url)
    config.pop("TESTING")
    fetches = run_processes(config, count=2, calls=50)
    assert sum(fetches) == 1
    assert len(emulator.calls("stable_token")) == 1
    assert len(emulator.calls("gettemplate")) == 100

    emulator.control("POST", "/tokens/invalidate")
    emulator.control("DELETE", "/log")
    fetches = run_processes(config, count=2, calls=50)
    assert sum(fetches) == 1  # one refresh after the invalidation, shared by both
    assert len(emulator.calls("stable_token")) == 1
    results = [call["errcode"] for call in emulator.calls("gettemplate")]
    assert results.count(0) == 100 and set(results) <= {0, 40001}


@pytest.mark.slow
@pytest.mark.redis
def test_two_processes_share_one_token_in_redis(app, emulator):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    config = app_config(app.config["SQLALCHEMY_DATABASE_URI"], emulator.url, REDIS_URL=REDIS_URL)
    config.pop("TESTING")
    key = f"wxsub:access_token:stable:{config['WX_APPID']}"
    redis.Redis.from_url(REDIS_URL).delete(key, f"{key}:lease")
    fetches = run_processes(config, count=2, calls=50)
    assert sum(fetches) == 1
    assert len(emulator.calls("stable_token")) == 1


def test_token_table_is_independent_of_the_request_transaction(app, emulator):
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        app.extensions["apps"].only().client.templates.list()
        db.session.rollback()
        store = app.extensions["apps"].only().client.tokens.store
        assert store.read() is not None
