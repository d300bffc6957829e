"""Both queues run one claim code: RQ jobs and the web process's threads claim a batch's
messages WORKER_THREADS at a time through delivery/outbox.py, and a message claimed on one
path is never sent again by the other."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker

from backend.delivery import outbox
from backend.delivery.queue import QUEUE_NAME, RQQueue
from backend.extensions import db
from backend.infra.redis_link import RedisLink
from backend.models import Message
from tests.conftest import REDIS_URL
from tests.test_batches import create, give_users, wait_done


class RQ:
    """The test Redis as the batch queue, and a worker in this process (as `wx worker --burst`)."""

    def __init__(self) -> None:
        self.connection = redis.Redis.from_url(REDIS_URL)
        self.connection.flushdb()
        self.queue = RQQueue(RedisLink(REDIS_URL))
        self.jobs = Queue(QUEUE_NAME, connection=self.connection)

    def work(self) -> None:
        SimpleWorker([self.jobs], connection=self.connection).work(burst=True)
        assert self.jobs.failed_job_registry.count == 0


@pytest.fixture
def rq(app, monkeypatch) -> RQ:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    monkeypatch.setattr("backend.jobs._app", app)  # the worker's app, as `wx worker` sets it
    monkeypatch.setattr("backend.jobs._pool", None)
    return RQ()


def this_path() -> str:
    """The RQ worker of these tests runs its jobs in the main thread; the thread queue in its own."""
    return "rq" if threading.current_thread() is threading.main_thread() else "threads"


@pytest.fixture
def claims(monkeypatch) -> list[tuple[str, list[int]]]:
    """Every claim_group call: the path that made it and its ids."""
    made: list[tuple[str, list[int]]] = []
    real = outbox.claim_group

    def recording(ids: list[int]):
        made.append((this_path(), sorted(ids)))
        return real(ids)

    monkeypatch.setattr(outbox, "claim_group", recording)
    return made


def message_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Message.id).order_by(Message.id)))


@pytest.mark.parametrize("path", ["threads", "rq"])
def test_five_messages_for_one_user_are_claimed_together_and_all_sent(
    path, app, client, emulator, templates, claims, request
):
    """WeChat answers 43108 to overlapping sends to one openid (docs/wechat.md §10): the group's
    five deliveries take turns, on either path."""
    if path == "rq":
        rq = request.getfixturevalue("rq")
        app.extensions["queue"] = rq.queue
    [openid] = give_users(app, emulator, 1, ledger_credits=5, wechat_credits=5)
    emulator.control("POST", "/latency", ms=100)  # long enough in flight for the others to overlap
    batch = create(client, [{"openid": openid, "data": {"thing1": f"Parcel {i}"}} for i in range(5)]).json
    if path == "rq":
        rq.work()
    assert wait_done(client, batch["id"])["counts"] == {"sent": 5}
    assert claims[0] == (path, message_ids(app))  # one group of five, not five groups of one
    sent = emulator.control("GET", "/sent")
    assert sorted(m["data"]["thing1"]["value"] for m in sent) == [f"Parcel {i}" for i in range(5)]
    assert [c["errcode"] for c in emulator.calls("subscribe_send")] == [0] * 5


def test_a_message_claimed_on_one_path_is_not_sent_by_the_other(app, client, emulator, templates, rq, monkeypatch):
    """The same ids queued on both paths, one walking them up, the other down: each path waits
    until the other holds its first group, so both deliver, and they meet in the middle."""
    count = 40
    app.config["WORKER_THREADS"] = 3  # groups that straddle where the two paths meet
    threads = app.extensions["queue"]
    app.extensions["queue"] = SimpleNamespace(enqueue=lambda ids: None)  # queued below, on both paths
    ready = give_users(app, emulator, count)
    emulator.control("POST", "/latency", ms=20)
    batch = create(client, [{"openid": o, "data": {"thing1": f"n{i}"}} for i, o in enumerate(ready)]).json
    ids = message_ids(app)

    both_hold_a_group = threading.Barrier(2, timeout=60)
    claimed: dict[str, list[int]] = {"threads": [], "rq": []}
    real = outbox.claim_group

    def claim_and_meet(group: list[int]):
        path = this_path()
        ready, batch_ids = real(group)
        first = not claimed[path]
        claimed[path].extend(message.id for message in ready)
        if first:
            both_hold_a_group.wait()
        return ready, batch_ids

    monkeypatch.setattr(outbox, "claim_group", claim_and_meet)
    rq.queue.enqueue(ids[::-1])
    threads.enqueue(ids)
    rq.work()

    assert wait_done(client, batch["id"])["counts"] == {"sent": count}
    assert claimed["threads"] and claimed["rq"]
    assert sorted(claimed["threads"] + claimed["rq"]) == ids  # each message claimed once
    sent = [m["data"]["thing1"]["value"] for m in emulator.control("GET", "/sent")]
    assert sorted(sent) == sorted(f"n{i}" for i in range(count))
    assert len(emulator.calls("subscribe_send")) == count


def test_a_job_queued_under_the_old_name_is_delivered(app, client, emulator, templates, rq):
    """Jobs already in Redis when a deployment upgrades name `backend.jobs.deliver_chunk`."""
    ready = give_users(app, emulator, 2)
    app.extensions["queue"].enqueue = lambda ids: None  # queued below, by hand
    batch = create(client, [{"openid": o, "data": {"thing1": "x"}} for o in ready]).json
    rq.jobs.enqueue("backend.jobs.deliver_chunk", message_ids(app))
    rq.work()
    assert wait_done(client, batch["id"])["counts"] == {"sent": 2}
    assert sorted(m["touser"] for m in emulator.control("GET", "/sent")) == sorted(ready)
