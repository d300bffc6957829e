"""Batch sends: validated up front, delivered from the outbox, nothing lost or sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis
import sqlalchemy as sa

from backend import create_app
from backend.delivery import outbox
from backend.extensions import db
from backend.models import Batch, ConsentEvent, Message, Subscription, User, utcnow
from backend.sending import batches
from tests.conftest import POSTGRES_URL, REDIS_URL, app_config, reset_postgres
from tests.helpers import API_KEY, ONE_TIME, assert_error
from tests.servers import ROOT
from wxemu.defaults import DEV_APPID

T1 = ONE_TIME["priTmplId"]


def create(client, recipients, data=None, headers=None, **extra):
    body = {"template_id": T1, "data": data or {"time2": "15:01"}, "recipients": recipients, **extra}
    return client.post("/api/v1/batches", json=body, headers={**API_KEY, **(headers or {})})


def wait_done(client, batch_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = client.get(f"/api/v1/batches/{batch_id}", headers=API_KEY).json
        if batch["status"] == "done":
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch not done: {batch}")


def give_users(app, emulator, count: int, *, ledger_credits: int = 1, wechat_credits: int = 1) -> list[str]:
    """Users known to the backend and the emulator, with credits in the ledger and at WeChat."""
    openids = []
    for _ in range(count):
        openid = emulator.control("POST", "/users")["openid"]
        for _ in range(wechat_credits):
            emulator.control("POST", "/popup", openid=openid, results={T1: "accept"})
        openids.append(openid)
    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.insert(User),
            [
                {"app_id": DEV_APPID, "openid": o, "token_version": 0, "created_at": now, "updated_at": now}
                for o in openids
            ],
        )
        ids = dict(db.session.execute(sa.select(User.openid, User.id).where(User.openid.in_(openids))).all())
        db.session.execute(
            sa.insert(Subscription),
            [
                {
                    "app_id": DEV_APPID,
                    "user_id": ids[o],
                    "template_id": T1,
                    "kind": "one_time",
                    "status": "accept",
                    "remaining": ledger_credits,
                    "created_at": now,
                    "updated_at": now,
                }
                for o in openids
            ],
        )
        db.session.commit()
    return openids


class TestApi:
    def test_mixed_batch_ends_with_exact_counts(self, app, client, emulator, templates):
        ready = give_users(app, emulator, 6)
        no_credit = give_users(app, emulator, 3, ledger_credits=0, wechat_credits=0)
        revoked = give_users(app, emulator, 2, ledger_credits=1, wechat_credits=0)  # 43101 at WeChat
        recipients = (
            [{"openid": o, "data": {"thing1": f"Parcel {i}"}} for i, o in enumerate(ready)]
            + [{"openid": o, "data": {"thing1": "x"}} for o in no_credit + revoked]
            + [{"openid": "o-nobody", "data": {"thing1": "x"}}, {"user_id": 99999, "data": {"thing1": "x"}}]
        )
        response = create(client, recipients)
        assert response.status_code == 202
        assert response.json["total"] == 13 and response.json["status"] in ("queued", "running", "done")
        batch = wait_done(client, response.json["id"])
        assert batch["counts"] == {"sent": 6, "consent_required": 3, "consent_revoked": 2, "user_not_found": 2}
        assert sum(batch["counts"].values()) == batch["total"] and batch["finished_at"]
        sent = emulator.control("GET", "/sent")
        assert sorted(m["data"]["thing1"]["value"] for m in sent) == [f"Parcel {i}" for i in range(6)]
        assert len(emulator.calls("subscribe_send")) == 8  # 6 sent + 2 refused with 43101

    def test_five_messages_for_one_user_are_all_sent(self, app, client, emulator, templates):
        """WeChat answers 43108 to overlapping sends to one openid: the workers take turns."""
        [openid] = give_users(app, emulator, 1, ledger_credits=5, wechat_credits=5)
        emulator.control("POST", "/latency", ms=100)  # long enough in flight for the others to overlap
        recipients = [{"openid": openid, "data": {"thing1": f"Parcel {i}"}} for i in range(5)]
        batch = wait_done(client, create(client, recipients).json["id"])
        assert batch["counts"] == {"sent": 5}
        sent = emulator.control("GET", "/sent")
        assert sorted(m["data"]["thing1"]["value"] for m in sent) == [f"Parcel {i}" for i in range(5)]
        assert [c["errcode"] for c in emulator.calls("subscribe_send")] == [0] * 5

    def test_messages_are_paginated_and_filtered(self, app, client, emulator, templates, monkeypatch):
        monkeypatch.setattr("backend.api.pagination.PAGE_SIZE", 4)
        ready = give_users(app, emulator, 5)
        batch = create(
            client,
            [{"openid": o, "data": {"thing1": "x"}} for o in ready] + [{"openid": "o-nobody", "data": {"thing1": "x"}}],
        ).json
        wait_done(client, batch["id"])
        url = f"/api/v1/batches/{batch['id']}/messages"
        first = client.get(url, headers=API_KEY).json
        assert len(first["items"]) == 4 and first["next_cursor"]
        second = client.get(url, query_string={"cursor": first["next_cursor"]}, headers=API_KEY).json
        assert len(second["items"]) == 2 and second["next_cursor"] is None
        failed = client.get(url, query_string={"outcome": "user_not_found"}, headers=API_KEY).json["items"]
        assert [(item["openid"], item["user_id"]) for item in failed] == [("o-nobody", None)]
        assert_error(client.get(url, query_string={"cursor": "%%%"}, headers=API_KEY), 400, "invalid_request")

    def test_a_bad_value_refuses_the_whole_batch(self, app, client, emulator, templates):
        ready = give_users(app, emulator, 3)
        recipients = [{"openid": o, "data": {"thing1": "ok"}} for o in ready]
        recipients[2]["data"]["thing1"] = "x" * 21
        details = assert_error(create(client, recipients), 422, "invalid_template_data")
        assert details == {"recipients.2.thing1": "longer than 20 characters"}
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Batch)) == 0
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0

    @pytest.mark.parametrize(
        "recipients", [[], [{"openid": "o1", "user_id": 1}], [{}], [{"openid": "o1"}] * 10_001, "o1"]
    )
    def test_bad_recipients_are_400(self, client, templates, recipients):
        assert_error(create(client, recipients), 400, "invalid_request")

    def test_idempotency_key_creates_one_batch(self, app, client, emulator, templates):
        ready = give_users(app, emulator, 2)
        recipients = [{"openid": o, "data": {"thing1": "x"}} for o in ready]
        first = create(client, recipients, headers={"Idempotency-Key": "flight-42"})
        again = create(client, recipients, headers={"Idempotency-Key": "flight-42"})
        assert first.json["id"] == again.json["id"]
        wait_done(client, first.json["id"])
        assert len(emulator.control("GET", "/sent")) == 2

    def test_quota_and_busy_are_deferred_then_sent(self, app, client, emulator, templates, monkeypatch):
        monkeypatch.setattr("backend.sending.pace.BACKOFF_SECONDS", 0.05)
        [openid] = give_users(app, emulator, 1)
        emulator.fault(api="subscribe_send", errcode=45009, times=1)
        emulator.fault(api="subscribe_send", errcode=-1, times=3)  # the client's own 3 tries
        batch = wait_done(client, create(client, [{"openid": openid, "data": {"thing1": "x"}}]).json["id"])
        assert batch["counts"] == {"sent": 1}
        with app.app_context():
            assert db.session.scalar(sa.select(Message.attempts)) == 2


class TestClaimGroup:
    def test_one_credit_per_message_even_for_a_user_named_twice(self, app, emulator, templates):
        """A group's credits are taken in one statement; a user's second message needs a second credit."""
        one = give_users(app, emulator, 1)[0]
        two = give_users(app, emulator, 1, ledger_credits=2)[0]
        none = give_users(app, emulator, 1, ledger_credits=0)[0]
        with app.app_context():
            app.extensions["queue"].enqueue = lambda ids: None  # claimed by hand below
            recipients = [one, one, two, two, none]
            batch = batches.create_batch(
                app.extensions["apps"].only(),
                batches.BatchRequest(
                    template_id=T1,
                    data={"time2": "15:01"},
                    recipients=[{"openid": o, "data": {"thing1": "x"}} for o in recipients],
                ),
            )
            ids = db.session.scalars(sa.select(Message.id).order_by(Message.id)).all()
            ready, batch_ids = outbox.claim_group(ids)
            assert batch_ids == [batch.id]
            assert [m.openid for m in ready] == [one, two, two] and {m.status for m in ready} == {"sending"}
            db.session.expire_all()
            statuses = dict(db.session.execute(sa.select(Message.id, Message.status)).all())
            outcomes = dict(db.session.execute(sa.select(Message.id, Message.outcome)).all())
            assert [statuses[i] for i in ids] == ["sending", "failed", "sending", "sending", "failed"]
            assert [outcomes[i] for i in ids][1::3] == ["consent_required", "consent_required"]
            assert db.session.scalar(sa.select(sa.func.sum(Subscription.remaining))) == 0
            spent = db.session.scalars(sa.select(ConsentEvent.credits_delta).where(ConsentEvent.result == "spent"))
            assert list(spent) == [-1, -1, -1]
            assert db.session.get(Batch, batch.id).status == "running"
            assert outbox.claim_group(ids) == ([], [])  # claimed once: a second worker gets nothing


class TestSweep:
    def test_abandoned_send_becomes_unknown_and_lost_job_is_requeued(self, app, client, emulator, templates):
        ready = give_users(app, emulator, 2)
        with app.app_context():
            app.extensions["queue"].enqueue = lambda ids: None  # the jobs get lost
            batches.create_batch(
                app.extensions["apps"].only(),
                batches.BatchRequest(
                    template_id=T1,
                    data={"time2": "15:01"},
                    recipients=[{"openid": o, "data": {"thing1": "x"}} for o in ready],
                ),
            )
            first, second = db.session.scalars(sa.select(Message).order_by(Message.id)).all()
            assert outbox.claim_group([first.id])[0]  # a worker claimed it, spending its credit, then died
            long_ago = utcnow().replace(year=2020)
            db.session.refresh(first)  # the claim wrote the row, not this session's copy
            first.claimed_at = long_ago
            second.updated_at = long_ago
            db.session.commit()
            requeued = []
            app.extensions["queue"].enqueue = requeued.extend
            assert outbox.sweep() == {"unknown": 1, "requeued": 1}
            assert requeued == [second.id]
            assert db.session.get(Message, first.id, populate_existing=True).status == "unknown"
            subscription = db.session.scalars(
                sa.select(Subscription).where(Subscription.user_id == first.user_id)
            ).one()
            assert subscription.remaining == 0  # WeChat may have it: the credit stays spent, never refunded


# -- against real workers: RQ on Redis, PostgreSQL -------------------------------------------

WORKER_ENV = {
    "SWEEP_INTERVAL": "0.5",
    "SENDING_TIMEOUT": "3",
    "REQUEUE_AFTER": "2",
    "WX_READ_TIMEOUT": "1",
    "WORKER_THREADS": "8",
}


@pytest.fixture
def rq_app(emulator):
    """Workers in their own processes need the databases they share in production."""
    if not REDIS_URL or not POSTGRES_URL:
        pytest.skip("needs TEST_REDIS_URL and TEST_DATABASE_URL")
    reset_postgres(POSTGRES_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    app = create_app(app_config(POSTGRES_URL, emulator.url, REDIS_URL=REDIS_URL))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def start_worker(app, emulator) -> subprocess.Popen:
    env = {
        **os.environ,
        **WORKER_ENV,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": REDIS_URL,
        "WX_API_BASE": emulator.url,
        "WX_APPID": "",
        "WX_SECRET": "",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "wx", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(*workers: subprocess.Popen) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


@pytest.mark.slow
@pytest.mark.redis
def test_rq_batch_of_1000_with_mixed_consent(rq_app, emulator):
    emulator.template(**ONE_TIME)
    ready = give_users(rq_app, emulator, 700)
    no_credit = give_users(rq_app, emulator, 200, ledger_credits=0, wechat_credits=0)
    revoked = give_users(rq_app, emulator, 50, wechat_credits=0)
    recipients = [{"openid": o, "data": {"thing1": f"n{i}"}} for i, o in enumerate(ready + no_credit + revoked)] + [
        {"openid": f"o-nobody-{i}"} for i in range(50)
    ]
    client = rq_app.test_client()
    workers = [start_worker(rq_app, emulator) for _ in range(2)]
    try:
        batch = create(client, recipients, data={"thing1": "shared", "time2": "15:01"}).json
        batch = wait_done(client, batch["id"], seconds=180)
    finally:
        stop(*workers)
    assert batch["counts"] == {"sent": 700, "consent_required": 200, "consent_revoked": 50, "user_not_found": 50}
    sent = emulator.control("GET", "/sent")
    assert len(sent) == 700 and len({(m["touser"], m["data"]["thing1"]["value"]) for m in sent}) == 700
    assert len(emulator.calls("subscribe_send")) == 750


@pytest.mark.slow
@pytest.mark.redis
def test_killed_worker_loses_nothing_and_sends_nothing_twice(rq_app, emulator):
    emulator.template(**ONE_TIME)
    emulator.control("POST", "/latency", ms=100)
    ready = give_users(rq_app, emulator, 300)
    client = rq_app.test_client()
    first, second = start_worker(rq_app, emulator), start_worker(rq_app, emulator)
    try:
        batch = create(client, [{"openid": o, "data": {"thing1": f"n{i}"}} for i, o in enumerate(ready)]).json
        deadline = time.monotonic() + 60
        while len(emulator.control("GET", "/sent")) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop(first)  # SIGKILL in the middle of the batch
        assert len(emulator.control("GET", "/sent")) < 300
        third = start_worker(rq_app, emulator)
        batch = wait_done(client, batch["id"], seconds=180)
    finally:
        stop(first, second, third)
    outcomes = batch["counts"]
    print("outcomes after the kill:", outcomes)
    assert set(outcomes) <= {"sent", "unknown", "consent_required", "wechat_unavailable"}
    assert sum(outcomes.values()) == 300
    sent = emulator.control("GET", "/sent")
    delivered = [m["data"]["thing1"]["value"] for m in sent]
    assert len(delivered) == len(set(delivered))  # none delivered twice
    assert outcomes["sent"] <= len(delivered) <= outcomes["sent"] + outcomes.get("unknown", 0)
    with rq_app.app_context():
        statuses = db.session.scalars(sa.select(Message.status)).all()
        assert "queued" not in statuses and "sending" not in statuses  # none lost


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/batches/bat%00x", 404),
        ("/api/v1/batches/bat_x/messages?cursor=" + "OTk5OTk5OTk5OTk5OTk5OTk5OQ==", 404),
        ("/api/v1/messages?status=%00", 400),
        ("/api/v1/messages?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OQ==", 400),
    ],
)
def test_crafted_ids_and_cursors_are_4xx(client, path, status):
    assert client.get(path, headers=API_KEY).status_code == status


def test_recipient_user_id_beyond_the_column_is_400(client, templates):
    assert_error(create(client, [{"user_id": 2**31, "data": {"thing1": "x"}}]), 400, "invalid_request")
