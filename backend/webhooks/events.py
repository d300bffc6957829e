"""Webhook events written into the caller's transaction (docs/api.md "Webhooks").

`emit` adds the event to the transaction of the change it reports, so an event exists if and
only if its change committed (the outbox); nothing here commits: the command that makes the
change owns the unit of work (backend/db/work.py). An app's events go to its own `webhook_url`
(WX_APPS_FILE) or else to WEBHOOK_URL (targets.py); for an app with neither it does nothing and
costs nothing: no row, no statement. Posting the events is `webhooks/runner.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa

from backend.extensions import db
from backend.models import Batch, Message, User, WebhookEvent, new_public_id, utcnow
from backend.states import MessageStatus, Outcome, SubscriptionStatus, TemplateKind, WebhookStatus
from backend.webhooks.targets import any_target, target

EVENT_TYPES = (
    "message.sent",
    "message.failed",
    "message.unknown",
    "message.delivered",
    "message.canceled",  # DELETE /api/v1/messages/<id> (sending/later.py)
    "subscription.updated",
    "batch.done",
    "user.data_revoked",  # WeChat's authorized_user_information_changes: the user withdrew some data
    "user.erased",  # the person was erased (users/erasure.py); its payload is emptied once delivered
)

_events = WebhookEvent.__table__
_INSERT = sa.insert(_events)  # built once: emits run on the send path (see sending/single.py)
_SETTLED = {
    MessageStatus.SENT: "message.sent",
    MessageStatus.FAILED: "message.failed",
    MessageStatus.UNKNOWN: "message.unknown",
}
_CHANGES = {
    SubscriptionStatus.ACCEPT: "accepted",
    SubscriptionStatus.REJECT: "rejected",
    SubscriptionStatus.BAN: "banned",
    SubscriptionStatus.FILTER: "filtered",
}


def enabled(appid: str | None = None) -> bool:
    """Are events of app `appid` (without one: of any app) written?"""
    return any_target() if appid is None else target(appid) is not None


def emit(event_type: str, appid: str, data: dict[str, Any]) -> None:
    """Add one event of app `appid` (the app of the row it reports) to the current transaction;
    nothing at all when that app has no receiver (neither its own nor WEBHOOK_URL).

    `data` gets the event's `appid` and, for a user bound to one, their `external_id`: the id
    business code knows them by. The event is posted once that transaction committed.
    """
    if not enabled(appid):
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
            "status": WebhookStatus.PENDING,
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
        "outcome": value["outcome"] if value["status"] == MessageStatus.FAILED else None,  # the error code
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
        emit_messages("message.unknown", abandoned, status=MessageStatus.UNKNOWN, outcome=Outcome.UNKNOWN)


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
                "remaining": subscription.remaining if subscription.kind == TemplateKind.ONE_TIME else None,
            },
        )


def emit_batch_done(batch: Batch, counts: Mapping[str, int]) -> None:
    """batch.done: the batch's last message settled; `counts`, its messages by outcome."""
    data = {"id": batch.public_id, "template_id": batch.template_id, "total": batch.total}
    emit("batch.done", batch.app_id, {**data, "counts": dict(counts)})
