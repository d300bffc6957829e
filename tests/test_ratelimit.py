"""Our own request limits: 429 rate_limited with Retry-After, per client IP or per user."""

from __future__ import annotations

import pytest
import redis

from backend import create_app
from backend.extensions import db
from tests.conftest import REDIS_URL, app_config
from tests.helpers import ONE_TIME, assert_error, log_in, report

T1 = ONE_TIME["priTmplId"]


def login(client, emulator):
    return client.post("/api/v1/auth/login", json={"code": emulator.login_code()["code"]})


def test_logins_per_ip(app, client, emulator):
    app.config["RATE_LIMIT_LOGIN"] = 3
    assert [login(client, emulator).status_code for _ in range(3)] == [200] * 3
    response = login(client, emulator)
    details = assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61 and details["retry_after"] == int(
        response.headers["Retry-After"]
    )
    other_ip = client.post(
        "/api/v1/auth/login", json={"code": emulator.login_code()["code"]}, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert other_ip.status_code == 200


def test_reports_per_user(app, client, emulator, templates):
    app.config["RATE_LIMIT_REPORTS"] = 2
    first, second = log_in(client, emulator), log_in(client, emulator)
    assert [report(client, first, {T1: "accept"}).status_code for _ in range(2)] == [200, 200]
    assert_error(report(client, first, {T1: "accept"}), 429, "rate_limited")
    assert report(client, second, {T1: "accept"}).status_code == 200
    subs = client.get("/api/v1/subscriptions", headers=first.auth).json["subscriptions"]
    assert subs[0]["remaining"] == 2  # the refused report minted nothing


def test_zero_turns_a_limit_off(app, client, emulator):
    app.config["RATE_LIMIT_LOGIN"] = 0
    assert all(login(client, emulator).status_code == 200 for _ in range(5))


@pytest.mark.redis
def test_redis_counts_across_processes(database_url, emulator):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis.Redis.from_url(REDIS_URL).flushdb()
    apps = [
        create_app(app_config(database_url, emulator.url, REDIS_URL=REDIS_URL, RATE_LIMIT_LOGIN=3)) for _ in range(2)
    ]  # two processes' worth
    with apps[0].app_context():
        db.create_all()
    statuses = [login(apps[n % 2].test_client(), emulator).status_code for n in range(4)]
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    assert statuses == [200, 200, 200, 429]


def test_while_redis_is_down_each_process_counts_on_its_own(database_url, emulator, unused_port):
    redis_down = f"redis://127.0.0.1:{unused_port}/0"
    app = create_app(app_config(database_url, emulator.url, REDIS_URL=redis_down, RATE_LIMIT_LOGIN=3))
    with app.app_context():
        db.create_all()
    statuses = [login(app.test_client(), emulator).status_code for _ in range(4)]
    with app.app_context():
        db.engine.dispose()
    assert statuses == [200, 200, 200, 429]


def test_behind_a_load_balancer_the_forwarded_client_ip_counts(database_url, emulator):
    app = create_app(app_config(database_url, emulator.url, TRUSTED_PROXIES=1, RATE_LIMIT_LOGIN=1))
    with app.app_context():
        db.create_all()
    client = app.test_client()

    def login_from(ip: str) -> int:
        code = emulator.login_code()["code"]
        return client.post("/api/v1/auth/login", json={"code": code}, headers={"X-Forwarded-For": ip}).status_code

    assert [login_from("203.0.113.1"), login_from("203.0.113.2"), login_from("203.0.113.1")] == [200, 200, 429]
    with app.app_context():
        db.engine.dispose()
