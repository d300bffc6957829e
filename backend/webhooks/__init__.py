"""Webhooks to business code (docs/api.md "Webhooks"), from a durable outbox.

- `emit` writes the event into the transaction of the change it reports, so an event exists
  if and only if its change committed (the outbox). Without WEBHOOK_URL it does nothing and
  costs nothing: no row, no statement.
- A runner (a daemon thread in each web process, from its first request on, and in every
  `wx worker`) calls `deliver_due` once a second: it claims one due event at a time with a
  lease (`claimed_until`), posts it outside any transaction, and settles it. A claim is one
  conditional UPDATE (PostgreSQL skips rows another runner has locked; SQLite's writer lock
  serialises the statement), so two runners never post one event at the same moment.
- Delivery is at least once, signed per the Standard Webhooks specification with the
  `standardwebhooks` package: a non-2xx answer, a time-out or no connection is retried after
  about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, then every 6 h; an event not delivered within 3
  days is `dead`. Every attempt carries the same `webhook-id`. A runner that dies while it
  posts lets go of the event when its lease ends; the next runner posts it again.
- Secrets never reach a log; the URL is logged without its query string or user info.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask, current_app
from standardwebhooks import Webhook

from backend.extensions import db
from backend.models import Batch, Message, User, WebhookEvent, new_public_id, utcnow

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "message.sent",
    "message.failed",
    "message.unknown",
    "message.delivered",
    "message.canceled",  # DELETE /api/v1/messages/<id> (sending/later.py)
    "subscription.updated",
    "batch.done",
)
PENDING, DELIVERED, FAILING, DEAD = "pending", "delivered", "failing", "dead"
DUE_STATUSES = (PENDING, FAILING)

# Seconds before the next attempt after the 1st, 2nd, ... failure; the last one repeats.
BACKOFF = (5, 30, 120, 600, 3600, 6 * 3600)
GIVE_UP_AFTER = timedelta(days=3)
POLL_INTERVAL = 1.0  # seconds between two looks at the outbox when nothing was due
PER_ITERATION = 100  # events one `deliver_due` posts at most, so a runner's loop comes round
LEASE_MARGIN = 30  # seconds a claim outlasts the receiver's time-outs (connecting, then answering)

_events = WebhookEvent.__table__
_INSERT = sa.insert(_events)  # built once: emits run on the send path (see sending/single.py)
_SETTLED = {"sent": "message.sent", "failed": "message.failed", "unknown": "message.unknown"}
_CHANGES = {"accept": "accepted", "reject": "rejected", "ban": "banned", "filter": "filtered"}


# -- emitting ---------------------------------------------------------------------------


def enabled() -> bool:
    return bool(current_app.config["WEBHOOK_URL"])


def emit(event_type: str, appid: str, data: dict[str, Any]) -> None:
    """Add one event of app `appid` (the app of the row it reports) to the current transaction;
    nothing at all without WEBHOOK_URL.

    `data` gets the event's `appid` and, for a user bound to one, their `external_id`: the id
    business code knows them by. The event is posted once that transaction committed.
    """
    if not enabled():
        return
    if event_type not in EVENT_TYPES:
        raise ValueError(f"not a webhook event type: {event_type}")
    if data.get("user_id") is not None and "external_id" not in data:
        data = {**data, "external_id": _external_ids([data["user_id"]]).get(data["user_id"])}
    now = utcnow()
    payload = {
        "type": event_type,
        "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": {"appid": appid, **data},
    }
    db.session.execute(
        _INSERT,
        {
            "id": new_public_id("evt"),
            "type": event_type,
            "app": appid,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "claimed_until": None,
            "last_error": None,
            "delivered_at": None,
            "created_at": now,
            "updated_at": now,
        },
    )


def _get(message: Any, name: str) -> Any:
    """A message's field, from a `Message` or from a row about to be inserted (a mapping)."""
    return message.get(name) if isinstance(message, Mapping) else getattr(message, name)


def message_data(message: Any, **fields: Any) -> dict[str, Any]:
    """What a message event says: the ids the business knows, the status, a failure's error code."""
    value = {name: fields.get(name, _get(message, name)) for name in ("status", "outcome", "errcode", "wechat_msgid")}
    return {
        "id": _get(message, "public_id"),
        "user_id": _get(message, "user_id"),
        "template_id": _get(message, "template_id"),
        "status": value["status"],
        "outcome": value["outcome"] if value["status"] == "failed" else None,  # the error code
        "errcode": value["errcode"],  # WeChat's, when it refused
        "wechat_msgid": value["wechat_msgid"],
    }


def emit_settled(message: Any, changes: Mapping[str, Any]) -> None:
    """A send settled as `changes` say: message.sent, .failed or .unknown (a requeue emits nothing)."""
    event_type = _SETTLED.get(changes["status"])
    if event_type is not None and enabled():
        emit(event_type, _get(message, "app_id"), message_data(message, **changes))


def emit_messages(event_type: str, messages: Iterable[Any], **fields: Any) -> None:
    """The same event for several messages (a batch's refusals, abandoned sends)."""
    if enabled():
        events = [(_get(message, "app_id"), message_data(message, **fields)) for message in messages]
        bound = _external_ids({data["user_id"] for _, data in events if data["user_id"] is not None})
        for appid, data in events:
            emit(event_type, appid, {**data, "external_id": bound.get(data["user_id"])})


def _external_ids(user_ids: Iterable[int]) -> dict[int, str]:
    """{user id: external_id} of those of these users who are bound (one indexed query)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    query = sa.select(User.id, User.external_id).where(User.id.in_(ids), User.external_id.is_not(None))
    return dict(db.session.execute(query).all())


def emit_abandoned(message_ids: Iterable[int]) -> None:
    """message.unknown for messages given up as `unknown` in this transaction (a dead worker's)."""
    ids = list(message_ids)
    if ids and enabled():
        abandoned = db.session.scalars(sa.select(Message).where(Message.id.in_(ids)))
        emit_messages("message.unknown", abandoned, status="unknown", outcome="unknown")


def emit_delivery(public_id: str) -> None:
    """message.delivered: WeChat's subscribe_msg_sent_event about this message (docs/wechat.md §7)."""
    if enabled():
        message = db.session.scalar(sa.select(Message).where(Message.public_id == public_id))
        data = {**message_data(message), "delivery_status": message.delivery_status}
        emit("message.delivered", message.app_id, data)


class SubscriptionState(NamedTuple):
    """A subscription as a change left it (a ledger row has the same fields)."""

    app_id: str
    user_id: int
    template_id: str
    status: str
    kind: str
    remaining: int


def emit_subscription(subscription: Any, change: str) -> None:
    """subscription.updated: the user's choice or credits changed (`change`: accept, reject, ..., revoked)."""
    if enabled():
        emit(
            "subscription.updated",
            subscription.app_id,
            {
                "user_id": subscription.user_id,
                "template_id": subscription.template_id,
                "change": _CHANGES.get(change, change),
                "status": subscription.status,
                "kind": subscription.kind,
                "remaining": subscription.remaining if subscription.kind == "one_time" else None,
            },
        )


def emit_batch_done(batch: Batch, counts: Mapping[str, int]) -> None:
    """batch.done: the batch's last message settled; `counts`, its messages by outcome."""
    data = {"id": batch.public_id, "template_id": batch.template_id, "total": batch.total}
    emit("batch.done", batch.app_id, {**data, "counts": dict(counts)})


# -- delivering -------------------------------------------------------------------------


def deliver_due(app: Flask, now: datetime | None = None, limit: int = PER_ITERATION) -> int:
    """One runner iteration: post the events that are due, one claim at a time; how many were tried.

    `now` is the clock for claims and back-off (tests move it); the signed `webhook-timestamp`
    is always the real time, which receivers check against their own clock.
    """
    if not app.config["WEBHOOK_URL"]:
        return 0
    attempted = 0
    with app.app_context(), requests.Session() as http:
        signer = Webhook(app.config["WEBHOOK_SECRET"])
        while attempted < limit:
            moment = now or utcnow()
            claimed = _claim(moment, app.config["WEBHOOK_TIMEOUT"])
            if claimed is None:
                break
            attempted += 1
            error = _post(http, signer, claimed, app.config)
            _settle(claimed, error, now or utcnow())
        db.session.remove()
    return attempted


def _claim(now: datetime, timeout: float) -> Any | None:
    """The next due event, leased to this runner (one statement, then committed); None if none is due."""
    free = sa.or_(_events.c.claimed_until.is_(None), _events.c.claimed_until < now)
    is_due = (_events.c.status.in_(DUE_STATUSES), _events.c.next_attempt_at <= now, free)
    # A read first: the usual answer is "nothing", and an UPDATE would take SQLite's writer lock for it.
    if db.session.execute(sa.select(_events.c.id).where(*is_due).limit(1)).first() is None:
        db.session.rollback()  # end the read
        return None
    due = (
        sa.select(_events.c.id)
        .where(*is_due)
        .order_by(_events.c.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite runs the statement under its writer lock
        .scalar_subquery()
    )
    lease = now + timedelta(seconds=2 * timeout + LEASE_MARGIN)
    claimed = db.session.execute(
        sa.update(_events)
        .where(_events.c.id == due, _events.c.status.in_(DUE_STATUSES), free)  # re-checked after a lock wait
        .values(claimed_until=lease)
        .returning(_events.c.id, _events.c.type, _events.c.payload, _events.c.attempts)
    ).first()
    db.session.commit()
    if claimed is None:
        return None
    return {**claimed._mapping, "claimed_until": lease}


def signed_request(signer: Webhook, event_id: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt, per the Standard Webhooks specification."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    moment = datetime.now(UTC).replace(microsecond=0)
    return body.encode(), {
        "Content-Type": "application/json",
        "User-Agent": "wx-subscribe-webhooks",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signer.sign(event_id, moment, body),
    }


def _post(http: requests.Session, signer: Webhook, event: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """Post one event; None when the receiver answered 2xx, else a short reason (no secret, no body)."""
    body, headers = signed_request(signer, event["id"], event["payload"])
    timeout = config["WEBHOOK_TIMEOUT"]
    try:
        # No redirects: a receiver that moved answers 3xx, which is a failure the operator sees.
        response = http.post(config["WEBHOOK_URL"], data=body, headers=headers, timeout=timeout, allow_redirects=False)
        response.close()
    except requests.Timeout:
        return f"timed out after {timeout:g} s"
    except requests.ConnectionError:
        return "could not connect"
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def backoff(attempts: int) -> float | None:
    """Seconds from the failed attempt number `attempts` to the next; None once the attempts would
    reach past GIVE_UP_AFTER from the first one (the event is then `dead`)."""
    delays = [BACKOFF[min(n, len(BACKOFF)) - 1] for n in range(1, attempts + 1)]
    return delays[-1] if sum(delays) <= GIVE_UP_AFTER.total_seconds() else None


def _settle(event: Mapping[str, Any], error: str | None, now: datetime) -> None:
    """Record the attempt, if the event is still ours (a runner whose lease ran out changes nothing)."""
    attempts = event["attempts"] + 1
    if error is None:
        values = {"status": DELIVERED, "delivered_at": now, "last_error": None}
    else:
        delay = backoff(attempts)
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
        values = {"status": FAILING if retry_at else DEAD, "next_attempt_at": retry_at or now, "last_error": error}
        log.warning(
            "webhook delivery failed",
            extra={
                "webhook_id": event["id"],
                "type": event["type"],
                "attempt": attempts,
                "error": error,
                "url": loggable_url(current_app.config["WEBHOOK_URL"]),
                "gave_up": retry_at is None,
            },
        )
    db.session.execute(
        sa.update(_events)
        .where(_events.c.id == event["id"], _events.c.claimed_until == event["claimed_until"])
        .values(attempts=attempts, claimed_until=None, updated_at=utcnow(), **values)
    )
    db.session.commit()


def loggable_url(url: str) -> str:
    """The URL without its query string, fragment or user info (they may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


# -- the runner -------------------------------------------------------------------------

_runner_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """With WEBHOOK_URL: the web process starts its runner with its first request (not under tests,
    which call `deliver_due`, and not in one-off commands, which would quit mid-delivery)."""
    if app.config["WEBHOOK_URL"] and not app.config.get("TESTING"):
        app.before_request(lambda: start_runner(app))


def start_runner(app: Flask) -> None:
    """A daemon thread calling `deliver_due` until `stop_runner`; once per process."""
    wanted = app.config["WEBHOOK_URL"] and not app.config.get("TESTING")
    if not wanted or "webhook_runner" in app.extensions:
        return
    with _runner_lock:
        if "webhook_runner" in app.extensions:
            return
        stop = threading.Event()
        thread = threading.Thread(target=_run, args=(app, stop), daemon=True, name="webhooks")
        app.extensions["webhook_runner"] = (thread, stop)
    log.info("webhook runner started", extra={"url": loggable_url(app.config["WEBHOOK_URL"])})
    thread.start()


def stop_runner(app: Flask, timeout: float | None = None) -> None:
    """Let the runner finish the event it is posting, and end it."""
    runner = app.extensions.get("webhook_runner")
    if runner is not None:
        thread, stop = runner
        stop.set()
        thread.join(timeout)


def _run(app: Flask, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            attempted = deliver_due(app)
        except Exception:
            log.exception("webhook delivery failed")  # the database blinked: the outbox keeps the events
            attempted = 0
        if attempted < PER_ITERATION:
            stop.wait(POLL_INTERVAL)


# -- for operators ------------------------------------------------------------------------


def problem_deliveries(limit: int = 50) -> dict[str, Any]:
    """Failing and dead deliveries, newest first, with their counts (the CLI and the dashboard)."""
    counts = dict(
        db.session.execute(
            sa.select(WebhookEvent.status, sa.func.count())
            .where(WebhookEvent.status.in_((FAILING, DEAD)))
            .group_by(WebhookEvent.status)
        ).all()
    )
    events = db.session.scalars(
        sa.select(WebhookEvent)
        .where(WebhookEvent.status.in_((FAILING, DEAD)))
        .order_by(WebhookEvent.created_at.desc())
        .limit(limit)
    ).all()
    return {
        "failing": counts.get(FAILING, 0),
        "dead": counts.get(DEAD, 0),
        "events": [
            {
                "id": event.id,
                "type": event.type,
                "status": event.status,
                "attempts": event.attempts,
                "last_error": event.last_error,
                "created_at": _aware(event.created_at).isoformat(),
                "next_attempt_at": _aware(event.next_attempt_at).isoformat() if event.status == FAILING else None,
            }
            for event in events
        ],
    }


def replay(event_id: str | None = None) -> int:
    """Make one failing or dead event (or, without an id, every one) due now; how many."""
    query = sa.update(WebhookEvent).where(WebhookEvent.status.in_((FAILING, DEAD)))
    if event_id is not None:
        query = query.where(WebhookEvent.id == event_id)
    # Attempts start over: a replayed event gets its retries and its 3 days again.
    count = db.session.execute(
        query.values(status=PENDING, attempts=0, next_attempt_at=utcnow(), claimed_until=None, updated_at=utcnow())
    ).rowcount
    db.session.commit()
    return count
