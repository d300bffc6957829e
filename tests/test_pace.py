"""The ceiling on WeChat send calls per second, shared by every worker, and the pause after 45009 / -1."""

from __future__ import annotations

import time

import pytest
import redis

from backend import create_app
from backend.extensions import db
from backend.sending import pace
from backend.sending.pace import LocalBucket, RedisBucket
from tests.conftest import REDIS_URL, app_config


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def buckets(request):
    """Two handles on one bucket, as two worker processes would hold them."""
    if request.param == "local":
        bucket = LocalBucket(5)
        yield bucket, bucket
        return
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    client = redis.Redis.from_url(REDIS_URL)
    key = f"wxsub:pace:test:{time.time_ns()}"
    yield RedisBucket(client, 5, key), RedisBucket(client, 5, key)
    client.delete(key)


def test_a_burst_of_the_rate_then_waits_shared_by_all_workers(buckets):
    first, second = buckets
    waits = [first.take() if n % 2 else second.take() for n in range(5)]
    assert waits == [0.0] * 5  # one second's worth at once
    assert first.take() > 0 and second.take() > 0  # then each must wait its turn


def test_a_pause_holds_every_worker(buckets):
    first, second = buckets
    first.pause(5)
    assert 4 < second.take() <= 5


def test_while_redis_is_down_a_worker_paces_itself(tmp_path, unused_port):
    config = app_config(f"sqlite:///{tmp_path / 'pace.sqlite3'}", "http://127.0.0.1:9", WX_SEND_RATE=5)
    app = create_app({**config, "REDIS_URL": f"redis://127.0.0.1:{unused_port}/0"})
    with app.app_context():
        bucket = pace._bucket()
        assert [bucket.take() for _ in range(5)] == [0.0] * 5
        assert bucket.take() > 0  # the ceiling still holds, in this process
        bucket.pause(5)
        assert 4 < bucket.take() <= 5
        db.engine.dispose()
