"""The per-openid send turn (sending/send_lock.py): one holder, token-checked release, a TTL."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa

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


def test_on_postgresql_the_turn_is_a_row_even_with_redis(database_url, emulator):
    """On PostgreSQL the turn rides on the send's two statements: in Redis it would cost two more
    round trips a send. On SQLite Redis keeps the lease writes away from the one writer."""
    from tests.conftest import app_config, running_app

    with running_app(app_config(database_url, emulator.url, REDIS_URL="redis://127.0.0.1:6379/7")) as app:
        leases = app.extensions["send_leases"]
        if database_url.startswith("postgresql"):
            assert isinstance(leases, send_lock.PostgresLeases)
        else:
            assert isinstance(leases, send_lock.RedisOrDatabaseLeases)


def test_a_send_with_an_idempotency_key_takes_and_gives_back_its_turn_in_its_statements(
    app, client, emulator, user, templates, monkeypatch
):
    """PostgreSQL: with the key the reserve is a statement of the key's transaction, and still takes
    the recipient's turn; the settle gives it back. No lease statement of its own either way."""
    from tests.helpers import GOOD_DATA, ONE_TIME, accept, send

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the turn rides on the send's statements on PostgreSQL only")
    alone: list[str] = []
    monkeypatch.setattr(send_lock.PostgresLeases, "try_take", lambda *args: alone.append("take") or True)
    monkeypatch.setattr(send_lock.PostgresLeases, "release", lambda *args: alone.append("release"))
    accept(client, emulator, user, times=2)
    body = {"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    for key in ("send-1", "send-2"):  # the second finds the turn given back by the first
        response = send(client, body, **{"Idempotency-Key": key})
        assert response.status_code == 201, response.json
    assert alone == []
    assert len(emulator.calls("subscribe_send")) == 2
    with app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM send_leases")).scalar() == 0
