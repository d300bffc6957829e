"""Webhooks to business code: an outbox written with the change, posted to a real HTTP receiver,
verified with the `standardwebhooks` library, retried with back-off under one webhook-id."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from backend import create_app, webhooks
from backend.config import load_config
from backend.delivery.outbox import deliver_ids
from backend.extensions import db
from backend.models import Message, WebhookEvent, utcnow
from backend.settings import ConfigError
from backend.webhooks import runner as webhook_runner
from tests.api.pushing import T1, TOKEN, popup, post
from tests.conftest import app_config
from tests.helpers import API_KEY, GOOD_DATA, accept, log_in, reconfigure, report, send
from wxemu.defaults import DEV_APPID
from wxemu.pusher import event_message

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Receiver:
    """Business code's endpoint: a real HTTP server on a free port that records what it got and
    answers with the statuses it is told, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()  # cleared: the receiver waits before it answers
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                receiver.hold.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?token=query-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        """Each request's body, verified by the Standard Webhooks library as a receiver would."""
        return [Webhook(SECRET).verify(r["body"], r["headers"]) for r in self.requests]

    def ids(self) -> list[str]:
        return [r["headers"]["webhook-id"] for r in self.requests]

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def hooked_config(database_url, emulator, receiver, **overrides) -> dict:
    return app_config(
        database_url, emulator.url, WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET, WEBHOOK_TIMEOUT=2.0, **overrides
    )


@pytest.fixture
def hooked_app(database_url, emulator, receiver):
    app = create_app(hooked_config(database_url, emulator, receiver))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def hooked(hooked_app):
    return hooked_app.test_client()


def outbox(app) -> list[WebhookEvent]:
    with app.app_context():
        events = db.session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.created_at)).all()
        db.session.expunge_all()
        return list(events)


def sent_message(client, emulator) -> dict:
    user = log_in(client, emulator)
    accept(client, emulator, user)
    response = send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA})
    assert response.status_code == 201, response.json
    return response.json


def test_a_sent_message_is_posted_signed_and_verified_by_the_library(hooked, hooked_app, emulator, receiver, templates):
    message = sent_message(hooked, emulator)
    assert receiver.requests == []  # written with the send, posted by a runner
    assert webhooks.deliver_due(hooked_app) == 2  # subscription.updated (the accept), message.sent

    accepted, sent = receiver.events()
    assert accepted["type"] == "subscription.updated"
    assert accepted["data"]["change"] == "accepted" and accepted["data"]["remaining"] == 1
    assert sent["type"] == "message.sent"
    assert sent["data"] == {
        "appid": hooked_app.config["WX_APPID"],
        "id": message["id"],
        "user_id": message["user_id"],
        "external_id": None,  # not bound
        "template_id": T1,
        "status": "sent",
        "outcome": None,
        "errcode": None,
        "wechat_msgid": message["wechat_msgid"],
    }
    assert sent["timestamp"].endswith("Z")
    headers = receiver.requests[1]["headers"]
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="signature"):  # another secret does not verify it
        Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode()).verify(receiver.requests[1]["body"], headers)
    assert [event.status for event in outbox(hooked_app)] == ["delivered", "delivered"]
    assert webhooks.deliver_due(hooked_app) == 0  # delivered once


def test_a_receiver_failing_three_times_gets_the_event_four_times_with_one_id(
    hooked, hooked_app, emulator, receiver, templates
):
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    receiver.statuses = [500, 502, 503]
    now = utcnow()
    delays = []
    for _ in range(3):
        assert webhooks.deliver_due(hooked_app, now=now) == 1
        (event,) = outbox(hooked_app)
        assert event.status == "failing" and event.last_error.startswith("HTTP 50")
        delay = (webhook_runner._aware(event.next_attempt_at) - now).total_seconds()
        assert webhooks.deliver_due(hooked_app, now=now + timedelta(seconds=delay - 1)) == 0  # not due yet
        delays.append(delay)
        now += timedelta(seconds=delay)
    assert webhooks.deliver_due(hooked_app, now=now) == 1

    assert delays == [5, 30, 120]
    assert len(receiver.requests) == 4 and len(set(receiver.ids())) == 1
    assert all(event["type"] == "subscription.updated" for event in receiver.events())
    (event,) = outbox(hooked_app)
    assert (event.status, event.attempts, event.last_error) == ("delivered", 4, None)
    assert event.id == receiver.ids()[0]


def test_a_time_out_is_retried_and_three_days_of_failures_is_dead(hooked, hooked_app, emulator, receiver):
    hooked_app.config["WEBHOOK_TIMEOUT"] = 0.2
    receiver.hold.clear()  # the receiver never answers in time
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    assert webhooks.deliver_due(hooked_app) == 1
    (event,) = outbox(hooked_app)
    assert (event.status, event.last_error) == ("failing", "timed out after 0.2 s")
    receiver.hold.set()

    hooked_app.config["WEBHOOK_TIMEOUT"] = 2.0
    receiver.statuses = [500] * 100
    now, attempts = utcnow(), 1
    while outbox(hooked_app)[0].status == "failing":
        now = webhook_runner._aware(outbox(hooked_app)[0].next_attempt_at)
        assert webhooks.deliver_due(hooked_app, now=now) == 1
        attempts += 1
    (event,) = outbox(hooked_app)
    assert event.status == "dead" and event.attempts == attempts
    first = webhook_runner._aware(event.created_at)
    assert timedelta(days=2, hours=18) <= now - first <= timedelta(days=3)  # every 6 h until 3 days
    assert len(set(receiver.ids())) == 1


def test_a_restarted_backend_delivers_what_was_pending(database_url, emulator, receiver, templates):
    first = create_app(hooked_config(database_url, emulator, receiver))
    with first.app_context():
        db.create_all()
    client = first.test_client()
    user = log_in(client, emulator)
    report(client, user, {T1: "reject"})
    report(client, user, {T1: "accept"})
    with first.app_context():  # a runner claims the first event, then the process dies mid-post
        claimed = webhook_runner._claim(utcnow(), first.config["WEBHOOK_TIMEOUT"])
        db.session.remove()
        db.engine.dispose()
    assert claimed is not None and receiver.requests == []

    restarted = create_app(hooked_config(database_url, emulator, receiver))
    assert webhooks.deliver_due(restarted) == 1  # the unclaimed one; the dead runner's lease holds
    lease_over = claimed["claimed_until"] + timedelta(seconds=1)
    assert webhooks.deliver_due(restarted, now=lease_over) == 1
    assert sorted(event["data"]["change"] for event in receiver.events()) == ["accepted", "rejected"]
    assert {event.status for event in outbox(restarted)} == {"delivered"}
    with restarted.app_context():
        db.engine.dispose()


def test_two_runners_never_post_one_event_at_the_same_moment(hooked, hooked_app, emulator, receiver):
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    receiver.hold.clear()
    other_runner = threading.Thread(target=webhooks.deliver_due, args=(hooked_app,))
    other_runner.start()
    assert receiver.arrived.wait(10)  # the other runner is posting it, its receiver not answering yet
    assert webhooks.deliver_due(hooked_app) == 0
    receiver.hold.set()
    other_runner.join(10)
    assert len(receiver.requests) == 1 and outbox(hooked_app)[0].status == "delivered"


def test_message_delivered_follows_the_sent_event_push(hooked, hooked_app, emulator, receiver, templates):
    reconfigure(hooked_app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    user = log_in(hooked, emulator)
    emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})
    post(hooked, hooked_app, popup(user.openid, (T1, "accept")))
    sent = send(hooked, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).json
    item = {"TemplateId": T1, "MsgID": sent["wechat_msgid"], "ErrorCode": 0, "ErrorStatus": "success"}
    push = event_message(user.openid, "subscribe_msg_sent_event", [item])
    assert post(hooked, hooked_app, push).status_code == 200
    assert post(hooked, hooked_app, push).status_code == 200  # WeChat's retry: applied once

    webhooks.deliver_due(hooked_app)
    types = [event["type"] for event in receiver.events()]
    assert types == ["subscription.updated", "message.sent", "message.delivered"]
    delivered = receiver.events()[-1]["data"]
    assert delivered["id"] == sent["id"] and delivered["delivery_status"] == "delivered"
    assert delivered["user_id"] == user.id and delivered["template_id"] == T1


def test_failures_carry_their_error_code(hooked, hooked_app, emulator, receiver, templates):
    user = log_in(hooked, emulator)
    accept(hooked, emulator, user)
    emulator.control("POST", "/settings", openid=user.openid, template_id=T1, status="reject")  # WeChat: 43101
    response = send(hooked, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA})
    assert response.status_code == 409, response.json
    webhooks.deliver_due(hooked_app)
    by_type = {event["type"]: event["data"] for event in receiver.events()[1:]}
    assert by_type["message.failed"]["outcome"] == "consent_revoked"
    assert by_type["message.failed"]["errcode"] == 43101
    assert by_type["subscription.updated"]["change"] == "revoked"
    assert by_type["subscription.updated"]["remaining"] == 0


def test_a_batch_emits_its_failures_and_batch_done(hooked, hooked_app, emulator, receiver, templates):
    user = log_in(hooked, emulator)
    body = {
        "template_id": T1,
        "data": GOOD_DATA,
        "recipients": [{"openid": user.openid}, {"openid": "o-nobody"}],
    }
    batch = hooked.post("/api/v1/batches", json=body, headers=API_KEY).json
    with hooked_app.app_context():
        queued = db.session.scalars(sa.select(Message.id).where(Message.status == "queued")).all()
    with ThreadPoolExecutor(2) as pool:
        deliver_ids(hooked_app, list(queued), pool)
    webhooks.deliver_due(hooked_app)
    events = receiver.events()
    failed = sorted(e["data"]["outcome"] for e in events if e["type"] == "message.failed")
    assert failed == ["consent_required", "user_not_found"]
    (done,) = [e["data"] for e in events if e["type"] == "batch.done"]
    assert done["id"] == batch["id"] and done["counts"] == {"consent_required": 1, "user_not_found": 1}


def test_a_canceled_message_emits_message_canceled(hooked, hooked_app, emulator, receiver, templates):
    user = log_in(hooked, emulator)
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = send(hooked, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, "send_at": send_at}).json
    assert hooked.delete(f"/api/v1/messages/{scheduled['id']}", headers=API_KEY).status_code == 200
    assert hooked.delete(f"/api/v1/messages/{scheduled['id']}", headers=API_KEY).status_code == 409
    webhooks.deliver_due(hooked_app)
    [canceled] = [event["data"] for event in receiver.events() if event["type"] == "message.canceled"]
    assert canceled["id"] == scheduled["id"] and canceled["status"] == "canceled"
    assert canceled["user_id"] == user.id and canceled["template_id"] == T1


def test_events_name_the_users_external_id(hooked, hooked_app, emulator, receiver, templates):
    bound, unbound = log_in(hooked, emulator), log_in(hooked, emulator)
    response = hooked.put(f"/api/v1/users/{bound.id}/external-id", json={"external_id": "EMP-9"}, headers=API_KEY)
    assert response.status_code == 200, response.json
    accept(hooked, emulator, bound)
    assert send(hooked, {"openid": bound.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": bound.openid}, {"openid": unbound.openid}]}
    assert hooked.post("/api/v1/batches", json=body, headers=API_KEY).status_code == 202
    with hooked_app.app_context():
        queued = db.session.scalars(sa.select(Message.id).where(Message.status == "queued")).all()
    with ThreadPoolExecutor(2) as pool:
        deliver_ids(hooked_app, list(queued), pool)  # both without a credit now: consent_required
    webhooks.deliver_due(hooked_app)
    named = {(e["type"], e["data"].get("user_id")): e["data"].get("external_id") for e in receiver.events()}
    assert named[("subscription.updated", bound.id)] == "EMP-9"
    assert named[("message.sent", bound.id)] == "EMP-9"
    assert named[("message.failed", bound.id)] == "EMP-9"  # a batch refusal, looked up for the group
    assert named[("message.failed", unbound.id)] is None


def test_no_event_when_the_transaction_rolls_back(hooked_app):
    with hooked_app.app_context():
        webhooks.emit("message.sent", DEV_APPID, {"id": "msg_x"})
        db.session.rollback()
        webhooks.emit("message.failed", DEV_APPID, {"id": "msg_y"})
        db.session.commit()
    assert [event.payload["data"]["id"] for event in outbox(hooked_app)] == ["msg_y"]


def test_a_replayed_push_writes_no_second_event(hooked, hooked_app, emulator, templates):
    reconfigure(hooked_app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    push = popup("o-user-1", (T1, "accept"))
    assert post(hooked, hooked_app, push).status_code == 200
    assert post(hooked, hooked_app, push).status_code == 200  # its savepoint rolls back, event and all
    assert [event.type for event in outbox(hooked_app)] == ["subscription.updated"]


def test_without_webhook_url_no_row_and_no_statement(app, client, emulator, templates, database_url):
    statements: list[str] = []

    def record(conn, cursor, sql, *args):
        statements.append(sql)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        message = sent_message(client, emulator)
        assert webhooks.deliver_due(app) == 0
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert message["status"] == "sent"
    assert not [sql for sql in statements if "webhook_events" in sql]
    if database_url.startswith("postgresql"):  # the send's settle stays one autocommit statement, off the session
        assert not [sql for sql in statements if sql.lstrip().startswith("UPDATE messages")]
    assert outbox(app) == []


def test_the_cli_lists_failing_deliveries_and_replays_them(hooked, hooked_app, emulator, receiver):
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    receiver.statuses = [500]
    webhooks.deliver_due(hooked_app)
    (event,) = outbox(hooked_app)
    runner = hooked_app.test_cli_runner()

    listed = runner.invoke(args=["wx", "webhooks"])
    assert listed.exit_code == 0, listed.output
    assert "1 failing, 0 dead" in listed.output and event.id in listed.output and "HTTP 500" in listed.output

    assert webhooks.deliver_due(hooked_app) == 0  # not due for 5 s
    replayed = runner.invoke(args=["wx", "webhooks", "--replay", event.id])
    assert replayed.exit_code == 0 and "1 event(s) due again" in replayed.output
    assert webhooks.deliver_due(hooked_app) == 1
    assert outbox(hooked_app)[0].status == "delivered" and receiver.ids() == [event.id, event.id]
    missing = runner.invoke(args=["wx", "webhooks", "--replay", event.id])  # delivered: nothing to replay
    assert missing.exit_code == 1 and "no failing or dead webhook event" in missing.output

    report(hooked, user, {T1: "accept"})
    receiver.statuses = [500]
    webhooks.deliver_due(hooked_app)
    everything = runner.invoke(args=["wx", "webhooks", "--replay-all-failing"])
    assert "1 event(s) due again" in everything.output


def test_the_dashboard_shows_failing_deliveries(hooked, hooked_app, emulator, receiver):
    hooked_app.config["ADMIN_PASSWORD"] = "admin-password"
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    receiver.statuses = [503]
    webhooks.deliver_due(hooked_app)
    (event,) = outbox(hooked_app)
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-password").decode()}
    page = hooked.get("/admin", headers=auth)
    assert page.status_code == 200
    assert event.id in page.get_data(as_text=True) and "HTTP 503" in page.get_data(as_text=True)
    figures = hooked.get("/admin/api/webhooks", headers=auth).json
    assert figures["failing"] == 1 and figures["events"][0]["id"] == event.id


def test_secrets_and_the_query_string_never_reach_a_log(hooked, hooked_app, emulator, receiver, caplog):
    user = log_in(hooked, emulator)
    report(hooked, user, {T1: "reject"})
    receiver.statuses = [500]
    with caplog.at_level(logging.INFO):  # the backend's own level (backend/ops/logs.py)
        webhooks.deliver_due(hooked_app)
    (record,) = [r for r in caplog.records if r.getMessage() == "webhook delivery failed"]
    assert record.url == receiver.url.partition("?")[0]
    logged = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert SECRET not in logged and SECRET.removeprefix("whsec_") not in logged and "query-token" not in logged


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"WEBHOOK_URL": "https://crm.example.com/hook"}, "WEBHOOK_SECRET is not set"),
        ({"WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL is not set"),
        ({"WEBHOOK_URL": "https://h/x", "WEBHOOK_SECRET": SECRET.removeprefix("whsec_")}, "must start with whsec_"),
        ({"WEBHOOK_URL": "https://h/x", "WEBHOOK_SECRET": "whsec_not base64!"}, "is not whsec_ followed by base64"),
        ({"WEBHOOK_URL": "https://h/x", "WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "decodes to 5 bytes"),
        ({"WEBHOOK_URL": "ftp://h/x", "WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL must be a URL starting with http://"),
    ],
)
def test_webhook_settings_are_checked_at_start_up(environ, problem):
    with pytest.raises(ConfigError) as raised:
        load_config(environ)
    assert problem in str(raised.value)
    assert environ.get("WEBHOOK_SECRET", "\0") not in str(raised.value)  # a secret is never echoed


def test_the_web_process_delivers_from_its_first_request_on(database_url, emulator, receiver):
    app = create_app(hooked_config(database_url, emulator, receiver, TESTING=False))
    with app.app_context():
        db.create_all()
    try:
        assert "webhook_runner" not in app.extensions  # building the app (a one-off command) starts nothing
        user = log_in(app.test_client(), emulator)
        report(app.test_client(), user, {T1: "reject"})
        assert receiver.arrived.wait(30)  # no deliver_due here: the runner thread posted it
        assert receiver.events()[0]["type"] == "subscription.updated"
    finally:
        webhooks.stop_runner(app, timeout=30)
        app.extensions["queue"].stop_sweeper()  # started by the first request too (backend/delivery/queue.py)
        with app.app_context():
            db.engine.dispose()
    assert not app.extensions["webhook_runner"][0].is_alive()


def test_a_send_abandoned_by_a_dead_worker_emits_message_unknown(hooked, hooked_app, emulator, receiver):
    user = log_in(hooked, emulator)
    with hooked_app.app_context():
        from backend.delivery.outbox import sweep

        # A worker claimed this message (credit spent) and died before WeChat answered.
        abandoned = Message(
            app_id=DEV_APPID, user_id=user.id, openid=user.openid, template_id=T1, data=GOOD_DATA, status="sending"
        )
        abandoned.claimed_at = utcnow() - timedelta(hours=1)
        db.session.add(abandoned)
        db.session.commit()
        public_id = abandoned.public_id
        assert sweep()["unknown"] == 1
    webhooks.deliver_due(hooked_app)
    (unknown,) = [e["data"] for e in receiver.events() if e["type"] == "message.unknown"]
    assert unknown["id"] == public_id and unknown["status"] == "unknown" and unknown["user_id"] == user.id
