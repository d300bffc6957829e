"""The per-openid send turn (sending/send_lock.py): one holder, token-checked release, a TTL."""

from __future__ import annotations

import pytest
import redis

from backend.extensions import db
from backend.sending import send_lock
from tests.conftest import REDIS_URL

NAME = ("wx-app", "o-user")


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def leases(request, app):
    if request.param == "database":
        with app.app_context():
            yield send_lock.database_leases(db.engine)
        return
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    client = redis.Redis.from_url(REDIS_URL)
    keys = [
        f"wxsub:send-lease:{appid}:{openid}" for appid in ("wx-app", "wx-other") for openid in ("o-user", "o-other")
    ]
    client.delete(*keys)
    yield send_lock.RedisLeases(client)
    client.delete(*keys)


def test_one_holder_at_a_time(leases):
    assert leases.try_take(NAME, "first", 30)
    assert not leases.try_take(NAME, "second", 30)
    assert leases.try_take(("wx-app", "o-other"), "second", 30)  # another openid has its own turn
    assert leases.try_take(("wx-other", "o-user"), "second", 30)  # and so has the same openid in another app


def test_only_the_holder_releases(leases):
    assert leases.try_take(NAME, "first", 30)
    leases.release(NAME, "second")  # a sender whose lease ran out and passed on
    assert not leases.try_take(NAME, "third", 30)
    leases.release(NAME, "first")
    assert leases.try_take(NAME, "third", 30)


def test_a_dead_holders_turn_runs_out(leases):
    assert leases.try_take(NAME, "dead", 0.001)
    for _ in range(10_000):  # bounded: the lease is a millisecond long
        if leases.try_take(NAME, "next", 30):
            break
    else:
        pytest.fail("the expired lease was never taken over")
    leases.release(NAME, "dead")  # too late: it is someone else's now
    assert not leases.try_take(NAME, "third", 30)


def test_no_turn_in_time_raises_openid_busy(app):
    app.config["SEND_LOCK_WAIT"] = 0.02
    with app.app_context(), send_lock.openid_turn(*NAME):
        with pytest.raises(send_lock.OpenidBusy), send_lock.openid_turn(*NAME):
            pass
        with send_lock.openid_turn("wx-app", "o-other"):
            pass
    with app.app_context(), send_lock.openid_turn(*NAME):
        pass  # released on leaving the block


def test_a_store_that_fails_is_openid_busy(app):
    """Redis down: the send is not made, and so not lost (the caller returns the credit)."""
    app.config["SEND_LOCK_WAIT"] = 0.02
    app.extensions["send_leases"] = send_lock.RedisLeases(redis.Redis(port=1, socket_connect_timeout=0.5))
    with app.app_context(), pytest.raises(send_lock.OpenidBusy), send_lock.openid_turn(*NAME):
        pass
