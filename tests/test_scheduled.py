"""Sends delivered later: `Prefer: respond-async`, `send_at`, and `DELETE /api/v1/messages/<id>`.

Such a message spends nothing when it is accepted: consent is checked and the credit spent
when a worker claims it (delivery/outbox.py), on either queue; a canceled one never reaches
WeChat, even when its id is already on the queue.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from rq import Worker

from backend.delivery import due, outbox
from backend.extensions import db
from backend.models import Message, utcnow
from tests.api.pushing import TOKEN
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, log_in, reconfigure, send
from tests.test_batches import create, give_users, rq_app, start_worker, stop, wait_done  # noqa: F401
from tests.test_delivery import rq  # noqa: F401 (the fixture: the test Redis, a worker in this process)
from tests.test_redis_outage import redis_app, redis_server, run_worker_burst, wait_for_redis  # noqa: F401

T1 = ONE_TIME["priTmplId"]
ASYNC = {"Prefer": "respond-async"}
HOUR = timedelta(hours=1)
PLUS_8 = timezone(timedelta(hours=8))  # Beijing time, as a caller in China writes it


def body(user, **extra) -> dict:
    return {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, **extra}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def message(client, message_id: str) -> dict:
    response = client.get(f"/api/v1/messages/{message_id}", headers=API_KEY)
    assert response.status_code == 200
    return response.json


def wait_settled(client, message_id: str, seconds: float = 30) -> dict:
    """The message once a worker settled it (no longer scheduled, queued or being sent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = message(client, message_id)
        if record["status"] not in ("scheduled", "queued"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"message not settled: {record}")


def credits(client, user) -> int:
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    return next(sub["remaining"] for sub in subs if sub["template_id"] == T1)


def release(app, at: datetime | None = None) -> list[int]:
    with app.app_context():
        return due.release_due(at)


def deliver_by_hand(app, ids: list[int]) -> None:
    """What a job on the queue does with these ids: the one claim code, then delivery."""
    with ThreadPoolExecutor(2) as pool:
        outbox.deliver_ids(app, ids, pool)


# -- Prefer: respond-async -----------------------------------------------------------------


def test_respond_async_is_202_at_once_then_delivered(client, emulator, user, templates):
    accept(client, emulator, user)
    response = send(client, body(user), **ASYNC)
    assert response.status_code == 202, response.json
    assert response.headers["Preference-Applied"] == "respond-async"
    assert response.json["status"] == "queued" and response.json["user_id"] == user.id
    assert response.json["send_at"] is None and response.json["sent_at"] is None
    record = wait_settled(client, response.json["id"])
    assert record["status"] == "sent" and isinstance(record["wechat_msgid"], int)
    [call] = emulator.calls("subscribe_send")
    assert call["touser"] == user.openid and call["errcode"] == 0
    assert credits(client, user) == 0


def test_respond_async_among_other_preferences(client, emulator, user, templates):
    accept(client, emulator, user)
    response = send(client, body(user), Prefer="return=minimal, respond-async; wait=10")
    assert response.status_code == 202 and response.headers["Preference-Applied"] == "respond-async"
    assert wait_settled(client, response.json["id"])["status"] == "sent"


def test_respond_async_without_credit_fails_at_delivery_without_calling_wechat(client, emulator, user, templates):
    response = send(client, body(user), **ASYNC)
    assert response.status_code == 202  # consent is checked at delivery
    record = wait_settled(client, response.json["id"])
    assert record["status"] == "failed" and record["outcome"] == "consent_required"
    assert emulator.calls("subscribe_send") == []


def test_values_and_recipient_are_checked_before_the_202(app, client, user, templates):
    details = assert_error(send(client, body(user, data={"thing1": "x" * 21}), **ASYNC), 422, "invalid_template_data")
    assert "thing1" in details
    assert_error(send(client, body(user, openid="o-nobody"), **ASYNC), 404, "user_not_found")
    assert_error(send(client, {"openid": user.openid, "data": GOOD_DATA}, **ASYNC), 400, "invalid_request")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


# -- send_at -------------------------------------------------------------------------------


def test_scheduled_send_spends_nothing_until_its_time(app, client, emulator, user, templates):
    accept(client, emulator, user)
    send_at = datetime.now(PLUS_8) + HOUR
    response = send(client, body(user, send_at=iso(send_at)))
    assert response.status_code == 202, response.json
    assert "Preference-Applied" not in response.headers  # no Prefer was sent
    assert response.json["status"] == "scheduled" and parse(response.json["send_at"]) == send_at
    assert credits(client, user) == 1
    assert release(app) == []  # not due yet
    assert message(client, response.json["id"])["status"] == "scheduled"
    assert len(release(app, utcnow() + 2 * HOUR)) == 1
    assert wait_settled(client, response.json["id"])["status"] == "sent"
    assert credits(client, user) == 0 and len(emulator.calls("subscribe_send")) == 1


def test_a_time_in_the_past_means_now(client, emulator, user, templates):
    accept(client, emulator, user)
    response = send(client, body(user, send_at="2020-01-01T00:00:00Z"))
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert wait_settled(client, response.json["id"])["status"] == "sent"


@pytest.mark.parametrize(
    ("send_at", "reason"),
    [
        ("2026-12-24T09:00:00", "offset"),  # no offset: whose 9 o'clock?
        ("tomorrow", "ISO 8601"),
        (1767225600, "ISO 8601"),
        ("far", None),  # more than a year ahead
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/batches"])
def test_bad_send_at_is_400_and_nothing_is_written(app, client, user, templates, send_at, reason, path):
    if send_at == "far":
        send_at, reason = iso(datetime.now(UTC) + timedelta(days=366)), "one year"
    payload = body(user, send_at=send_at)
    if path.endswith("batches"):
        payload = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": user.openid}], "send_at": send_at}
    details = assert_error(client.post(path, json=payload, headers=API_KEY), 400, "invalid_request")
    assert reason in details["send_at"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_a_user_who_revokes_before_send_at_gets_nothing(app, client, emulator, user, templates, live_backend):
    """The user turns the template off in the mini program's settings after the send was
    scheduled: WeChat pushes the change, and at send_at the claim finds no credit."""
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    emulator.control("POST", "/push", url=f"{live_backend}/wechat/push", token=TOKEN, format="json", mode="plain")
    accept(client, emulator, user)
    response = send(client, body(user, send_at=iso(datetime.now(UTC) + HOUR)))
    assert response.status_code == 202 and credits(client, user) == 1
    emulator.control("POST", "/settings", openid=user.openid, template_id=T1, status="reject")
    assert credits(client, user) == 0
    release(app, utcnow() + 2 * HOUR)
    record = wait_settled(client, response.json["id"])
    assert record["status"] == "failed" and record["outcome"] in ("consent_required", "consent_revoked")
    assert emulator.calls("subscribe_send") == []


def test_two_scanners_never_queue_one_message_twice(app, client, emulator, templates):
    openids = give_users(app, emulator, 30)
    batch = create(client, [{"openid": o} for o in openids], data=GOOD_DATA, send_at=iso(datetime.now(UTC) + HOUR)).json
    assert batch["counts"] == {"scheduled": 30}
    queued: list[list[int]] = []
    app.extensions["queue"].enqueue = queued.append  # what each scanner hands to the queue
    start = threading.Barrier(2, timeout=30)

    def scan() -> None:
        start.wait()
        release(app, utcnow() + 2 * HOUR)

    scanners = [threading.Thread(target=scan) for _ in range(2)]
    for scanner in scanners:
        scanner.start()
    for scanner in scanners:
        scanner.join()
    ids = [message_id for job in queued for message_id in job]
    with app.app_context():
        all_ids = sorted(db.session.scalars(sa.select(Message.id)))
    assert sorted(ids) == all_ids  # each id queued once, by one scanner or the other


@pytest.mark.slow
@pytest.mark.redis
def test_redis_down_when_due_loses_nothing(redis_app, database_url, emulator, templates, redis_server):  # noqa: F811
    """A real Redis, killed while a message comes due: it stays scheduled, and is delivered once
    Redis is back."""
    app = redis_app(database_url, emulator.url, redis_server.url, REDIS_RETRY_AFTER=0.5)
    client = app.test_client()
    user = log_in(client, emulator)
    accept(client, emulator, user)
    scheduled = send(client, body(user, send_at=iso(datetime.now(UTC) + HOUR))).json
    redis_server.kill()
    assert release(app, utcnow() + 2 * HOUR) == []
    assert message(client, scheduled["id"])["status"] == "scheduled"  # still due, for the next scan
    redis_server.start()  # the same port, empty
    wait_for_redis(client)
    assert len(release(app, utcnow() + 2 * HOUR)) == 1
    run_worker_burst(app, redis_server.url)
    assert message(client, scheduled["id"])["status"] == "sent"
    assert len(emulator.calls("subscribe_send")) == 1


# -- DELETE /api/v1/messages/<id> ----------------------------------------------------------


def cancel(client, message_id: str):
    return client.delete(f"/api/v1/messages/{message_id}", headers=API_KEY)


def test_a_canceled_scheduled_message_spends_nothing_and_never_reaches_wechat(app, client, emulator, user, templates):
    accept(client, emulator, user)
    scheduled = send(client, body(user, send_at=iso(datetime.now(UTC) + HOUR))).json
    response = cancel(client, scheduled["id"])
    assert response.status_code == 200 and response.json["status"] == "canceled"
    assert response.json["id"] == scheduled["id"]
    assert release(app, utcnow() + 2 * HOUR) == []
    assert message(client, scheduled["id"])["status"] == "canceled"
    assert credits(client, user) == 1 and emulator.calls("subscribe_send") == []
    details = assert_error(cancel(client, scheduled["id"]), 409, "not_cancelable")
    assert details == {"message_id": scheduled["id"], "status": "canceled"}


def test_a_queued_message_canceled_is_never_sent_though_its_id_is_queued(app, client, emulator, user, templates):
    accept(client, emulator, user)
    on_the_queue: list[int] = []
    app.extensions["queue"].enqueue = on_the_queue.extend  # the job waits on the queue
    queued = send(client, body(user), **ASYNC).json
    assert queued["status"] == "queued" and len(on_the_queue) == 1
    assert cancel(client, queued["id"]).json["status"] == "canceled"
    deliver_by_hand(app, on_the_queue)  # the job runs after all
    assert message(client, queued["id"])["status"] == "canceled"
    assert credits(client, user) == 1 and emulator.calls("subscribe_send") == []


def test_a_queued_message_canceled_on_redis_is_never_sent(app, client, emulator, user, templates, rq):  # noqa: F811
    """The job is on Redis when the message is canceled; a real RQ worker runs it."""
    app.extensions["queue"] = rq.queue
    accept(client, emulator, user)
    queued = send(client, body(user), **ASYNC).json
    assert rq.jobs.count == 1
    assert cancel(client, queued["id"]).status_code == 200
    rq.work()
    assert message(client, queued["id"])["status"] == "canceled"
    assert credits(client, user) == 1 and emulator.calls("subscribe_send") == []


def test_a_sent_message_is_not_cancelable_and_an_unknown_id_is_404(client, emulator, user, templates):
    accept(client, emulator, user)
    sent = send(client, body(user)).json
    details = assert_error(cancel(client, sent["id"]), 409, "not_cancelable")
    assert details == {"message_id": sent["id"], "status": "sent"}
    assert_error(cancel(client, "msg_nothing"), 404, "not_found")


def test_cancel_needs_the_api_key(client, emulator, user, templates):
    scheduled = send(client, body(user, send_at=iso(datetime.now(UTC) + HOUR))).json
    assert_error(client.delete(f"/api/v1/messages/{scheduled['id']}"), 401, "unauthorized")
    assert message(client, scheduled["id"])["status"] == "scheduled"


def test_a_scheduled_batch_counts_scheduled_and_canceled(app, client, emulator, templates):
    openids = give_users(app, emulator, 3)
    batch = create(client, [{"openid": o} for o in openids], data=GOOD_DATA, send_at=iso(datetime.now(UTC) + HOUR))
    assert batch.status_code == 202 and batch.json["counts"] == {"scheduled": 3}
    items = client.get(f"/api/v1/batches/{batch.json['id']}/messages?outcome=scheduled", headers=API_KEY).json
    assert len(items["items"]) == 3
    assert cancel(client, items["items"][0]["id"]).status_code == 200
    counts = client.get(f"/api/v1/batches/{batch.json['id']}", headers=API_KEY).json["counts"]
    assert counts == {"scheduled": 2, "canceled": 1}
    assert len(release(app, utcnow() + 2 * HOUR)) == 2
    done = wait_done(client, batch.json["id"])
    assert done["counts"] == {"sent": 2, "canceled": 1}
    assert sorted(m["touser"] for m in emulator.control("GET", "/sent")) == sorted(openids[1:])


def test_a_batch_whose_messages_are_all_canceled_is_done(app, client, emulator, templates):
    [openid] = give_users(app, emulator, 1)
    batch = create(client, [{"openid": openid}], data=GOOD_DATA, send_at=iso(datetime.now(UTC) + HOUR)).json
    [item] = client.get(f"/api/v1/batches/{batch['id']}/messages", headers=API_KEY).json["items"]
    cancel(client, item["id"])
    done = client.get(f"/api/v1/batches/{batch['id']}", headers=API_KEY).json
    assert done["status"] == "done" and done["counts"] == {"canceled": 1}


# -- Idempotency-Key -----------------------------------------------------------------------


@pytest.mark.parametrize("later", ["respond-async", "send_at"])
def test_idempotency_key_makes_one_message(app, client, emulator, user, templates, later):
    accept(client, emulator, user, times=2)
    headers, extra = (ASYNC, {}) if later == "respond-async" else ({}, {"send_at": iso(datetime.now(UTC) + HOUR)})
    first = send(client, body(user, **extra), **headers, **{"Idempotency-Key": "order-42"})
    again = send(client, body(user, **extra), **headers, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["id"] == first.json["id"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    release(app, utcnow() + 2 * HOUR)
    assert wait_settled(client, first.json["id"])["status"] == "sent"
    assert len(emulator.calls("subscribe_send")) == 1 and credits(client, user) == 1


def test_a_retry_after_the_first_request_died_answers_its_202(app, client, emulator, user, templates, monkeypatch):
    """The first request committed its message and key, then died before answering."""
    accept(client, emulator, user)
    key = {"Idempotency-Key": "died-after-commit"}
    send_at = iso(datetime.now(UTC) + HOUR)

    def dies(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr("backend.api.messages._accepted", dies)
    assert send(client, body(user, send_at=send_at), **key).status_code == 500
    monkeypatch.undo()
    retry = send(client, body(user, send_at=send_at), **key)
    assert retry.status_code == 202, retry.json
    with app.app_context():
        [only] = db.session.scalars(sa.select(Message)).all()
    assert retry.json["id"] == only.public_id and retry.json["status"] == "scheduled"


# -- delivered at send_at, by the real background machinery ---------------------------------


def test_in_process_scanner_delivers_within_two_seconds_of_send_at(app, client, emulator, user, templates):
    """Without Redis: the web process's sweeper thread scans, its delivery threads send."""
    accept(client, emulator, user, times=2)
    queue = app.extensions["queue"]
    queue.run_sweeper()
    try:
        send_at = datetime.now(UTC) + timedelta(seconds=1.5)
        scheduled = send(client, body(user, send_at=iso(send_at))).json
        canceled = send(client, body(user, send_at=iso(send_at))).json
        assert cancel(client, canceled["id"]).status_code == 200
        record = wait_settled(client, scheduled["id"])
    finally:
        queue.stop_sweeper()
    assert record["status"] == "sent"
    sent_at = parse(record["sent_at"])
    assert send_at <= sent_at < send_at + timedelta(seconds=2)
    assert message(client, canceled["id"])["status"] == "canceled"
    assert len(emulator.calls("subscribe_send")) == 1 and credits(client, user) == 1


@pytest.mark.redis
def test_rq_worker_delivers_within_two_seconds_of_send_at(rq_app, emulator):  # noqa: F811
    """With Redis: `flask --app wsgi wx worker` in its own process scans and delivers."""
    emulator.template(**ONE_TIME)
    [due, canceled_user] = give_users(rq_app, emulator, 2)
    client = rq_app.test_client()
    worker = start_worker(rq_app, emulator)
    try:
        connection = rq_app.extensions["redis"].client
        deadline = time.monotonic() + 60
        while not Worker.all(connection=connection):  # the worker is up, its scanner with it
            assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start"
            time.sleep(0.1)
        send_at = datetime.now(UTC) + timedelta(seconds=1.5)
        scheduled = send(client, {"openid": due, "template_id": T1, "data": GOOD_DATA, "send_at": iso(send_at)}).json
        other = {"openid": canceled_user, "template_id": T1, "data": GOOD_DATA, "send_at": iso(send_at)}
        canceled = send(client, other).json
        assert cancel(client, canceled["id"]).status_code == 200
        record = wait_settled(client, scheduled["id"], seconds=60)
    finally:
        stop(worker)
    assert record["status"] == "sent"
    sent_at = parse(record["sent_at"])
    assert send_at <= sent_at < send_at + timedelta(seconds=2)
    assert message(client, canceled["id"])["status"] == "canceled"
    calls = emulator.calls("subscribe_send")
    assert [call["touser"] for call in calls] == [due], calls
