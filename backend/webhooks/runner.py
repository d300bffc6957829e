"""Posting webhook events from the outbox (docs/api.md "Webhooks"); events.py writes them.

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
- Each event goes to its app's receiver, signed with that receiver's secret (targets.py): an
  app's own `webhook_url` from WX_APPS_FILE, else WEBHOOK_URL.
- Secrets never reach a log; the URL is logged without its query string or user info.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask
from standardwebhooks import Webhook

from backend.db import end_read, work
from backend.extensions import db
from backend.models import WebhookEvent, utcnow
from backend.states import WebhookStatus
from backend.webhooks.targets import Target, any_target, target, targets

log = logging.getLogger(__name__)

DUE_STATUSES = (WebhookStatus.PENDING, WebhookStatus.FAILING)
PROBLEMS = (WebhookStatus.FAILING, WebhookStatus.DEAD)  # what an operator looks at and may replay

# Seconds before the next attempt after the 1st, 2nd, ... failure; the last one repeats.
BACKOFF = (5, 30, 120, 600, 3600, 6 * 3600)
GIVE_UP_AFTER = timedelta(days=3)
PAYLOAD_DROPPED_WHEN_DONE = ("user.erased",)  # events whose data is personal: emptied once delivered or dead
POLL_INTERVAL = 1.0  # seconds between two looks at the outbox when nothing was due
PER_ITERATION = 100  # events one `deliver_due` posts at most, so a runner's loop comes round
LEASE_MARGIN = 30  # seconds a claim outlasts the receiver's time-outs (connecting, then answering)

_events = WebhookEvent.__table__


def deliver_due(app: Flask, now: datetime | None = None, limit: int = PER_ITERATION) -> int:
    """One runner iteration: post the events that are due, one claim at a time; how many were tried.

    `now` is the clock for claims and back-off (tests move it); the signed `webhook-timestamp`
    is always the real time, which receivers check against their own clock.
    """
    if not any_target(app):
        return 0
    attempted = 0
    with app.app_context(), requests.Session() as http:
        while attempted < limit:
            moment = now or utcnow()
            claimed = _claim(moment, app.config["WEBHOOK_TIMEOUT"])
            if claimed is None:
                break
            attempted += 1
            receiver = target(claimed["app"], app)
            # None: its app lost its receiver since the event was written; the event is kept and retried.
            error = _post(http, receiver, claimed, app.config) if receiver else "no webhook receiver for this app"
            _settle(claimed, error, now or utcnow(), receiver)
        db.session.remove()
    return attempted


def _claim(now: datetime, timeout: float) -> Any | None:
    """The next due event, leased to this runner (one statement, then committed); None if none is due."""
    free = sa.or_(_events.c.claimed_until.is_(None), _events.c.claimed_until < now)
    is_due = (_events.c.status.in_(DUE_STATUSES), _events.c.next_attempt_at <= now, free)
    # A read first: the usual answer is "nothing", and an UPDATE would take SQLite's writer lock for it.
    if db.session.execute(sa.select(_events.c.id).where(*is_due).limit(1)).first() is None:
        end_read()  # nothing due: let go of the snapshot and the connection until the next look
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
    # Committed before the post: the lease must hold while no transaction is open.
    with work():
        claimed = db.session.execute(
            sa.update(_events)
            .where(_events.c.id == due, _events.c.status.in_(DUE_STATUSES), free)  # re-checked after a lock wait
            .values(claimed_until=lease)
            .returning(_events.c.id, _events.c.type, _events.c.app, _events.c.payload, _events.c.attempts)
        ).first()
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


def _post(http: requests.Session, receiver: Target, event: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """Post one event to its app's receiver, signed with that receiver's secret; None when it
    answered 2xx, else a short reason (no secret, no body)."""
    body, headers = signed_request(Webhook(receiver.secret), event["id"], event["payload"])
    timeout = config["WEBHOOK_TIMEOUT"]
    try:
        # No redirects: a receiver that moved answers 3xx, which is a failure the operator sees.
        response = http.post(receiver.url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
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


def _settle(event: Mapping[str, Any], error: str | None, now: datetime, receiver: Target | None) -> None:
    """Record the attempt, if the event is still ours (a runner whose lease ran out changes nothing)."""
    attempts = event["attempts"] + 1
    if error is None:
        values = {"status": WebhookStatus.DELIVERED, "delivered_at": now, "last_error": None}
    else:
        delay = backoff(attempts)
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
        values = {
            "status": WebhookStatus.FAILING if retry_at else WebhookStatus.DEAD,
            "next_attempt_at": retry_at or now,
            "last_error": error,
        }
        log.warning(
            "webhook delivery failed",
            extra={
                "webhook_id": event["id"],
                "type": event["type"],
                "attempt": attempts,
                "error": error,
                "appid": event["app"],
                "url": loggable_url(receiver.url) if receiver else None,
                "gave_up": retry_at is None,
            },
        )
    if event["type"] in PAYLOAD_DROPPED_WHEN_DONE and values["status"] in (WebhookStatus.DELIVERED, WebhookStatus.DEAD):
        # user.erased names the person (external_id) so the business can erase them too; once it
        # was delivered or given up, keeping it would keep what the erase removed.
        values["payload"] = {"type": event["type"], "timestamp": event["payload"].get("timestamp"), "data": {}}
    with work():
        db.session.execute(
            sa.update(_events)
            .where(_events.c.id == event["id"], _events.c.claimed_until == event["claimed_until"])
            .values(attempts=attempts, claimed_until=None, updated_at=utcnow(), **values)
        )


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
    """With a receiver for any app: the web process starts its runner with its first request (not under tests,
    which call `deliver_due`, and not in one-off commands, which would quit mid-delivery)."""
    if any_target(app) and not app.config.get("TESTING"):
        app.before_request(lambda: start_runner(app))


def start_runner(app: Flask) -> None:
    """A daemon thread calling `deliver_due` until `stop_runner`; once per process."""
    wanted = any_target(app) and not app.config.get("TESTING")
    if not wanted or "webhook_runner" in app.extensions:
        return
    with _runner_lock:
        if "webhook_runner" in app.extensions:
            return
        stop = threading.Event()
        thread = threading.Thread(target=_run, args=(app, stop), daemon=True, name="webhooks")
        app.extensions["webhook_runner"] = (thread, stop)
    receivers = {appid: loggable_url(t.url) if t else None for appid, t in targets(app).items()}
    log.info("webhook runner started", extra={"receivers": receivers})
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
            .where(WebhookEvent.status.in_(PROBLEMS))
            .group_by(WebhookEvent.status)
        ).all()
    )
    events = db.session.scalars(
        sa.select(WebhookEvent)
        .where(WebhookEvent.status.in_(PROBLEMS))
        .order_by(WebhookEvent.created_at.desc())
        .limit(limit)
    ).all()
    return {
        "failing": counts.get(WebhookStatus.FAILING, 0),
        "dead": counts.get(WebhookStatus.DEAD, 0),
        "events": [
            {
                "id": event.id,
                "type": event.type,
                "status": event.status,
                "attempts": event.attempts,
                "last_error": event.last_error,
                "created_at": _aware(event.created_at).isoformat(),
                "next_attempt_at": _aware(event.next_attempt_at).isoformat()
                if event.status == WebhookStatus.FAILING
                else None,
            }
            for event in events
        ],
    }


def replay(event_id: str | None = None) -> int:
    """Make one failing or dead event (or, without an id, every one) due now; how many."""
    query = sa.update(WebhookEvent).where(WebhookEvent.status.in_(PROBLEMS))
    if event_id is not None:
        query = query.where(WebhookEvent.id == event_id)
    # Attempts start over: a replayed event gets its retries and its 3 days again.
    values = {"status": WebhookStatus.PENDING, "attempts": 0, "claimed_until": None}
    with work():
        count = db.session.execute(query.values(next_attempt_at=utcnow(), updated_at=utcnow(), **values)).rowcount
    return count
