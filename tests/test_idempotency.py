"""Idempotency keys through crashes and outages: a dead holder's key comes back, answered by
what its request left; a committed effect keeps its key; one key, at most one WeChat call."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from backend.delivery import outbox
from backend.delivery.queue import RQQueue
from backend.extensions import db
from backend.infra import idempotency
from backend.infra.redis_link import RedisLink
from backend.models import Batch, IdempotencyRecord, Message, utcnow
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, send, wechat_client
from tests.servers import backend_env, gunicorn
from tests.test_batches import create, give_users, wait_done
from wxemu.defaults import DEV_APPID

T1 = ONE_TIME["priTmplId"]


def body(user) -> dict:
    return {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}


def holder_died(app, key: str, **record) -> None:
    """Leave the key's record as a process killed before answering leaves it: no answer, and
    a lease that ran out (SENDING_TIMEOUT after its request began)."""
    with app.app_context():
        db.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.key == key)
            .values(status_code=None, response=sa.null(), locked_until=utcnow() - timedelta(seconds=1), **record)
        )
        db.session.commit()


def test_a_dead_holder_that_left_nothing_lets_a_retry_run_afresh(client, app, emulator, user, templates):
    # The first request died before it reserved anything: the lease is all it left.
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-1"}), 409, "consent_required")
    holder_died(app, "order-1")
    accept(client, emulator, user)
    retry = send(client, body(user), **{"Idempotency-Key": "order-1"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert len(emulator.calls("subscribe_send")) == 1
    assert send(client, body(user), **{"Idempotency-Key": "order-1"}).json == retry.json


def test_a_live_holder_keeps_its_key_until_its_lease_ends(client, app, emulator, user, templates):
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-2"}), 409, "consent_required")
    with app.app_context():  # running, as far as anyone can tell: no answer, lease still on
        db.session.execute(sa.update(IdempotencyRecord).values(status_code=None, response=sa.null()))
        db.session.commit()
    accept(client, emulator, user)
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-2"}), 409, "idempotency_in_progress")
    assert emulator.calls("subscribe_send") == []


def test_a_dead_holder_whose_message_was_sent_is_answered_with_its_201(client, app, emulator, user, templates):
    accept(client, emulator, user, times=2)
    first = send(client, body(user), **{"Idempotency-Key": "order-3"})
    holder_died(app, "order-3")  # killed after WeChat answered, before the answer was stored
    retry = send(client, body(user), **{"Idempotency-Key": "order-3"})
    assert retry.status_code == 201 and retry.json == first.json and retry.json["remaining"] == 1
    assert len(emulator.calls("subscribe_send")) == 1


def test_a_dead_holder_whose_message_is_sending_is_409_then_unknown(client, app, emulator, user, templates):
    accept(client, emulator, user)
    first = send(client, body(user), **{"Idempotency-Key": "order-4"})
    holder_died(app, "order-4")
    with app.app_context():  # killed during its WeChat call: the message stays `sending`
        db.session.execute(sa.update(Message).values(status="sending", wechat_msgid=None, claimed_at=utcnow()))
        db.session.commit()
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-4"}), 409, "idempotency_in_progress")
    with app.app_context():  # SENDING_TIMEOUT later nobody can know whether WeChat got it
        stale = utcnow() - timedelta(seconds=app.config["SENDING_TIMEOUT"] + 1)
        db.session.execute(sa.update(Message).values(claimed_at=stale))
        db.session.commit()
    for _ in range(2):  # decided once, then replayed
        details = assert_error(send(client, body(user), **{"Idempotency-Key": "order-4"}), 502, "wechat_unavailable")
        assert details == {"message_id": first.json["id"], "status": "unknown"}
    record = client.get(f"/api/v1/messages/{first.json['id']}", headers=API_KEY).json
    assert record["status"] == "unknown"
    assert len(emulator.calls("subscribe_send")) == 1


def test_a_dead_holder_whose_batch_was_committed_is_answered_with_its_202(app, client, emulator, templates):
    ready = give_users(app, emulator, 1)
    first = create(client, [{"openid": ready[0], "data": {"thing1": "x"}}], headers={"Idempotency-Key": "flight-1"})
    holder_died(app, "flight-1")
    retry = create(client, [{"openid": ready[0], "data": {"thing1": "x"}}], headers={"Idempotency-Key": "flight-1"})
    assert retry.status_code == 202 and retry.json["id"] == first.json["id"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Batch)) == 1
    wait_done(client, first.json["id"])  # its delivery threads are done before the app goes
    assert len(emulator.control("GET", "/sent")) == 1


def test_a_5xx_after_the_batch_was_committed_keeps_the_key(app, client, emulator, templates, unused_port):
    """The queue is down when the batch is committed: whatever that answer was, a retry gets
    the same batch, and each recipient gets one message."""
    ready = give_users(app, emulator, 2)
    recipients = [{"openid": openid, "data": {"thing1": "x"}} for openid in ready]
    in_process = app.extensions["queue"]
    app.extensions["queue"] = RQQueue(RedisLink(f"redis://127.0.0.1:{unused_port}/0"))  # nobody listens
    first = create(client, recipients, headers={"Idempotency-Key": "flight-2"})
    app.extensions["queue"] = in_process  # the queue is back
    retry = create(client, recipients, headers={"Idempotency-Key": "flight-2"})
    assert retry.status_code == 202
    with app.app_context():
        [batch_id] = db.session.scalars(sa.select(Batch.public_id)).all()
        assert retry.json["id"] == batch_id and first.json.get("id", batch_id) == batch_id
        app.config["REQUEUE_AFTER"] = 0  # the sweeper finds the messages the queue never got
        outbox.sweep()
    wait_done(client, batch_id)
    assert sorted(sent["touser"] for sent in emulator.control("GET", "/sent")) == sorted(ready)


def test_two_take_overs_of_one_dead_key_one_wins(app):
    with app.test_request_context():
        claim = idempotency.begin(DEV_APPID, "scope", "k", "hash", lambda effect: None)
        holder_died(app, "k")
        dead = db.session.execute(sa.select(IdempotencyRecord.__table__)).one()
        db.session.rollback()
        # Both retries read the dead holder's record before either took it over.
        won, lost = idempotency._take_over(dead), idempotency._take_over(dead)
        assert won.record_id == claim.record_id and lost is None
        with pytest.raises(idempotency.IdempotencyInProgress):  # the winner holds it now
            idempotency.begin(DEV_APPID, "scope", "k", "hash", lambda effect: None)


def concurrently(count: int, call) -> list:
    start = threading.Barrier(count)
    answers: list = []

    def one():
        start.wait()
        answers.append(call())

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_concurrent_retries_of_a_dead_key_send_once(app, client, emulator, user, templates):
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-5"}), 409, "consent_required")
    holder_died(app, "order-5")
    accept(client, emulator, user, times=3)
    answers = concurrently(4, lambda: send(app.test_client(), body(user), **{"Idempotency-Key": "order-5"}))
    statuses = [answer.status_code for answer in answers]
    assert 201 in statuses and set(statuses) <= {201, 409}
    assert len({answer.json["id"] for answer in answers if answer.status_code == 201}) == 1
    assert len(emulator.calls("subscribe_send")) == 1


def test_concurrent_reports_with_one_key_count_once(app, client, user, templates):
    """A report's key is written in the report's own transaction: a concurrent twin waits for
    it and answers from it."""
    headers = {**user.auth, "Idempotency-Key": "popup-1"}
    answers = concurrently(
        4, lambda: app.test_client().post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=headers)
    )
    assert [answer.status_code for answer in answers] == [200] * 4
    subscriptions = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [(s["template_id"], s["remaining"]) for s in subscriptions] == [(T1, 1)]


# -- a real crash: a gunicorn worker killed while it holds a key -------------------------

LEASE_SECONDS = 10  # SENDING_TIMEOUT of the server under test
WECHAT_LATENCY_MS = 5000  # the step the worker is killed in takes this long


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a gunicorn master's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def serving_a_connection(pids: list[int], port: int) -> int:
    """The one of these processes that holds an established connection to `port` (from /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    holders = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                holders.append(pid)
    [holder] = holders
    return holder


def wait_for(app, condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    with app.app_context():
        while not condition():
            assert time.monotonic() < deadline, "the first request never got there"
            db.session.rollback()
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["during_the_wechat_call", "before_the_reserve"])
def test_a_worker_killed_while_holding_a_key(app, client, emulator, user, templates, database_url, killed):
    accept(client, emulator, user)  # the backend has learnt the template and holds a token
    if killed == "before_the_reserve":
        with app.app_context():  # so the worker must look the template up at WeChat: slowly
            db.session.execute(sa.text("DELETE FROM templates"))
            db.session.commit()
    env = backend_env(database_url, emulator.url, SENDING_TIMEOUT=str(LEASE_SECONDS))
    headers = {**API_KEY, "Idempotency-Key": "crash-1"}
    # Two workers: the one not killed answers the retries at once, while the key is still held.
    with gunicorn(env, workers=2, threads=4) as server:
        emulator.control("POST", "/latency", ms=WECHAT_LATENCY_MS)
        http = requests.Session()

        def first_request():
            with contextlib.suppress(requests.RequestException):  # its worker is killed under it
                http.post(f"{server.url}/api/v1/messages", json=body(user), headers=headers, timeout=60)

        first = threading.Thread(target=first_request)
        first.start()
        count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        if killed == "during_the_wechat_call":
            wait_for(app, lambda: db.session.scalar(sa.select(Message.status)) == "sending")
        else:
            wait_for(app, lambda: count(IdempotencyRecord) == 1)
            with app.app_context():
                assert count(Message) == 0
        os.kill(serving_a_connection(children(server.proc.pid), server.port), signal.SIGKILL)
        first.join(60)
        emulator.control("POST", "/latency", ms=0)

        answers = []
        deadline = time.monotonic() + LEASE_SECONDS + 60
        while not answers or answers[-1].status_code == 409:
            assert time.monotonic() < deadline, [answer.status_code for answer in answers]
            answers.append(requests.post(f"{server.url}/api/v1/messages", json=body(user), headers=headers, timeout=60))
            if answers[-1].status_code == 409:
                assert answers[-1].json()["error"]["code"] == "idempotency_in_progress"
                time.sleep(0.25)
        again = requests.post(f"{server.url}/api/v1/messages", json=body(user), headers=headers, timeout=60)

    final = answers[-1]
    assert answers[0].status_code == 409  # the key was held at first
    assert again.status_code == final.status_code and again.json() == final.json()
    with app.app_context():
        [message] = db.session.scalars(sa.select(Message)).all()  # one message for one key
    if killed == "during_the_wechat_call":  # the first request's message, which may have arrived
        assert final.status_code == 502
        assert final.json()["error"]["details"] == {"message_id": message.public_id, "status": "unknown"}
        assert message.status == "unknown"
        assert len(emulator.calls("subscribe_send")) <= 1
    else:  # it left nothing: a fresh run
        assert final.status_code == 201 and final.json()["id"] == message.public_id
        assert len(emulator.calls("subscribe_send")) == 1


class DatabaseDown:
    """The database stops answering from the first statement matching `after` (once armed) until
    `back()`: each statement fails as a killed connection does (OperationalError, so 503)."""

    def __init__(self, app, after: str | None) -> None:
        self.after, self.armed, self.down = after, False, False
        with app.app_context():
            self.engine = db.engine
        sa.event.listen(self.engine, "before_cursor_execute", self.execute)

    def execute(self, conn, cursor, statement, params, context, many):
        if self.armed and self.after and self.after in statement:
            self.armed, self.down = False, True
        if self.down:
            raise sa.exc.OperationalError(statement, params, Exception("server closed the connection unexpectedly"))

    def back(self) -> None:
        self.down = False
        sa.event.remove(self.engine, "before_cursor_execute", self.execute)


def test_a_key_whose_request_failed_on_the_database_before_wechat_is_released(
    client, app, emulator, user, templates, monkeypatch
):
    """The database goes away mid-send, before any WeChat call, and is still away when the
    answer is written: the key is released as soon as it is back, so the retry runs at once.
    A key whose request reached WeChat stays: its retry never sends again."""
    accept(client, emulator, user, times=2)
    outage = DatabaseDown(app, "FROM users")  # the send's first look-up after the key is held
    outage.armed = True
    assert_error(send(client, body(user), **{"Idempotency-Key": "order-db"}), 503, "database_unavailable")
    outage.back()
    retry = send(client, body(user), **{"Idempotency-Key": "order-db"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers, retry.json
    assert len(emulator.calls("subscribe_send")) == 1

    outage = DatabaseDown(app, after=None)
    wechat = wechat_client(app).subscribe
    real_send = wechat.send

    def sent_then_database_gone(*args, **kwargs):
        answer = real_send(*args, **kwargs)
        outage.down = True  # WeChat answered; the database goes before the settle
        return answer

    monkeypatch.setattr(wechat, "send", sent_then_database_gone)
    assert send(client, body(user), **{"Idempotency-Key": "order-db-2"}).status_code >= 500
    outage.back()
    again = send(client, body(user), **{"Idempotency-Key": "order-db-2"})
    assert again.status_code in (409, 502) and len(emulator.calls("subscribe_send")) == 2  # never sent twice
