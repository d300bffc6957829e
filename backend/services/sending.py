"""The send path of docs/design.md: validate, reserve, call WeChat, settle.

1. Validate the values against the template's keyword rules (422, no credit used).
2. Reserve in one short transaction: a conditional decrement of the credits and the
   `Message` row. No row updated means no consent: 409 and no WeChat call.
3. Call WeChat outside any transaction.
4. Settle in a second short transaction, by what WeChat answered.
Two processes can never spend one credit: the decrement is a single conditional UPDATE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from backend import errors, metrics
from backend.extensions import db
from backend.models import Message, Subscription, User, new_public_id, utcnow
from backend.services import autocommit, consent, device_delivery, idempotency, send_lock
from backend.services.ledger import add_credits, append_events, audit
from backend.services.templates import get_template, is_banned, mark_banned, refuse_if_banned
from backend.services.validation import validate_data
from backend.wechat import errors as wx

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # deliveries of one batch message that WeChat's quota or -1 may defer


@dataclass
class SendRequest:
    template_id: str
    data: Any
    openid: str | None = None
    user_id: int | None = None
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None
    truncate: bool = False


@dataclass(frozen=True)
class Recipient:
    id: int
    openid: str


# A send is every request's hot path, so its statements are Core, built once: no ORM unit
# of work, no statement construction or cache-key computation per call (together they cost
# more CPU than the rest of a send). On PostgreSQL the reserve and the settle are single
# statements in autocommit (services/autocommit.py).
_users = User.__table__
_subscriptions = Subscription.__table__
_messages = Message.__table__
_USER_BY_ID = sa.select(_users.c.id, _users.c.openid).where(_users.c.id == sa.bindparam("key"))
_USER_BY_OPENID = sa.select(_users.c.id, _users.c.openid).where(_users.c.openid == sa.bindparam("key"))
_SPEND_CREDIT = (
    sa.update(_subscriptions)
    .where(
        _subscriptions.c.user_id == sa.bindparam("uid"),
        _subscriptions.c.template_id == sa.bindparam("tid"),
        _subscriptions.c.remaining > 0,
    )
    .values(remaining=_subscriptions.c.remaining - 1, updated_at=sa.bindparam("now"))
    .returning(_subscriptions.c.remaining)
)
_INSERT_MESSAGE = sa.insert(_messages).returning(_messages.c.id)
_UPDATE_MESSAGE = sa.update(_messages).where(_messages.c.id == sa.bindparam("message_id"))
RECIPIENT_CACHE_SIZE = 50_000


def find_recipient(openid: str | None = None, user_id: int | None = None) -> Recipient:
    """The user's id and openid; remembered by the process (users are never deleted or renamed)."""
    key = ("id", user_id) if user_id is not None else ("openid", openid)
    cache = current_app.extensions.setdefault("recipient_cache", {})
    recipient = cache.get(key)
    if recipient is None:
        query = _USER_BY_ID if user_id is not None else _USER_BY_OPENID
        row = db.session.execute(query, {"key": key[1]}).first()
        if row is None:
            raise errors.UserNotFound("No user with that openid or user_id; they must log in or subscribe first.")
        if len(cache) >= RECIPIENT_CACHE_SIZE:
            cache.clear()
        recipient = cache[key] = Recipient(row.id, row.openid)
    return recipient


def _on_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


@dataclass
class SendResult:
    message: Message
    remaining: int | None  # credits left after this send; None for long-term templates


def send_message(request: SendRequest, key: idempotency.Claim | None = None) -> SendResult:
    """Send one subscribe message under the ledger's rules; raises an ApiError when it was not sent.

    This is the function Python code beside the backend calls directly (inside an app context).
    `key`: the Idempotency-Key the request holds; the outbox row is written with it.
    """
    recipient = find_recipient(request.openid, request.user_id)
    template = get_template(request.template_id)
    refuse_if_banned(request.template_id)
    values = validate_data(template, request.data, truncate=request.truncate)
    kind = template.kind if template else reported_kind(recipient.id, request.template_id)
    message, remaining = reserve(recipient, request, values, kind, key)
    return SendResult(deliver(message), remaining)


def reported_kind(user_id: int, template_id: str) -> str:
    subscription = _subscription(user_id, template_id)
    return subscription.kind if subscription else "one_time"


def _subscription(user_id: int, template_id: str) -> Subscription | None:
    return db.session.scalar(
        sa.select(Subscription).where(Subscription.user_id == user_id, Subscription.template_id == template_id)
    )


def spend_credit(user_id: int, template_id: str, kind: str) -> tuple[bool, int | None]:
    """Take one credit in the current transaction: (allowed, credits left; None for long-term).

    One conditional UPDATE, so two processes can never take the same credit.
    """
    if kind != "one_time":
        subscription = _subscription(user_id, template_id)
        return subscription is not None and subscription.status == "accept", None
    remaining = db.session.execute(_SPEND_CREDIT, {"uid": user_id, "tid": template_id, "now": utcnow()}).scalar()
    if remaining is not None:
        append_events([user_id], template_id, "send", "spent", credits_delta=-1)
    return remaining is not None, remaining


def reserve(
    recipient: Recipient, request: SendRequest, values: dict[str, str], kind: str, key: idempotency.Claim | None = None
) -> tuple[Message, int | None]:
    """Spend one credit and write the outbox row, in one short transaction.

    With an Idempotency-Key the transaction also writes the message beside the key (raising
    KeyTaken, nothing spent, if another request with the key got there first).
    """
    now = utcnow()
    row = {
        "public_id": new_public_id("msg"),
        "batch_id": None,
        "user_id": recipient.id,
        "openid": recipient.openid,
        "template_id": request.template_id,
        "data": values,
        "page": request.page,
        "miniprogram_state": request.miniprogram_state or current_app.config["WX_MINIPROGRAM_STATE"],
        "lang": request.lang or "zh_CN",
        "status": "sending",
        "attempts": 0,
        "claimed_at": now,
        "outcome": None,
        "errcode": None,
        "errmsg": None,
        "wechat_msgid": None,
        "delivery_status": None,
        "sent_at": None,
        "created_at": now,
        "updated_at": now,
    }
    # With a key, the session path below: the key's record is one more statement of the transaction.
    if kind == "one_time" and _on_postgresql() and key is None:
        reserved = autocommit.reserve(row, now)  # one statement, its own transaction
        if reserved is not None:
            metrics.record_credits("spent")
        message_id, remaining = reserved or (None, None)
    else:
        allowed, remaining = spend_credit(recipient.id, request.template_id, kind)
        message_id = db.session.execute(_INSERT_MESSAGE, row).scalar_one() if allowed else None
        if message_id is not None:
            idempotency.record_effect(key, {"message": row["public_id"], "remaining": remaining})
    if message_id is None:
        db.session.rollback()
        raise errors.ConsentRequired(details={"template_id": request.template_id, "user_id": recipient.id})
    if db.session().in_transaction():
        db.session.commit()
    # The row as written, detached: callers read it, and the settle step updates it by id.
    message = Message(id=message_id, **row)
    make_transient_to_detached(message)
    return message, remaining


class DeliveryDeferred(errors.ApiError):
    """A batch message met a passing failure (WeChat's quota or -1): it is queued again."""

    code, status, message = "wechat_unavailable", 503, "WeChat is busy; the message was queued again."


def deliver(message: Message, *, requeue_transient: bool = False) -> Message:
    """Call WeChat for a reserved message (outside any transaction), then settle it.

    The call waits for the user's turn: one send per (app, openid) in flight, everywhere
    (services/send_lock.py). With `requeue_transient` (batch delivery) a quota, busy or
    no-turn failure puts the message back in the queue, credit returned, instead of failing
    it (up to MAX_ATTEMPTS).
    """
    client = current_app.extensions["wechat"]
    if is_banned(message.template_id):  # an earlier 43107: WeChat would refuse it the same way
        raise _refuse_banned(message) from None
    try:
        with send_lock.openid_turn(client.appid, message.openid):
            if device_delivery.is_device_message(message):  # the device send (docs/wechat.md §11c)
                msgid = device_delivery.call_wechat(client, message)
            else:
                msgid = client.subscribe.send(
                    message.openid,
                    message.template_id,
                    message.data,
                    page=message.page,
                    miniprogram_state=message.miniprogram_state,
                    lang=message.lang,
                )
    except (wx.WeChatError, send_lock.OpenidBusy) as exc:
        raise _settle_failure(message, exc, requeue_transient) from None
    except Exception:
        # A bug or an unexpected failure after the credit was spent: we cannot know whether
        # WeChat got it, so the message is `unknown` and the credit stays spent.
        _settle(message, "unknown", outcome="unknown")
        raise
    _settle(message, "sent", wechat_msgid=msgid, sent_at=utcnow())
    return message


def _settle(message: Message, status: str, **fields: Any) -> None:
    """Write the outcome (one UPDATE by id) with whatever else the transaction holds, and commit."""
    changes = {"status": status, **fields, "updated_at": utcnow()}
    session = db.session()
    if _on_postgresql() and not (session.in_transaction() or session.new or session.dirty or session.deleted):
        autocommit.update_message(message.id, changes)  # the usual case: nothing else to write
    else:
        session.execute(_UPDATE_MESSAGE, {"message_id": message.id, **changes})
        session.commit()
    for name, value in changes.items():  # the object mirrors the row, without a second write
        set_committed_value(message, name, value)
    metrics.record_send(message.outcome if status == "failed" else status, message.errcode)


def _refund(message: Message) -> None:
    subscription = _subscription(message.user_id, message.template_id)
    if subscription is not None and subscription.kind == "one_time":
        add_credits(subscription, 1)
        audit(
            message.user_id,
            message.template_id,
            "send",
            "refunded",
            credits_delta=1,
            detail={"message_id": message.public_id},
        )


def _refuse_banned(message: Message, **fields: Any) -> errors.TemplateBanned:
    """Fail the message as `template_banned`, its credit returned."""
    _refund(message)
    fields = {"errcode": 43107, "errmsg": "the template is banned", **fields}
    _settle(message, "failed", outcome="template_banned", **fields)
    return errors.TemplateBanned(details={"message_id": message.public_id, "template_id": message.template_id})


# Failures that pass: the message surely was not sent, and a later try may succeed.
_TRANSIENT = (wx.QuotaExceeded, wx.SystemBusy, wx.WeChatUnreachable, wx.ConcurrentSend, send_lock.OpenidBusy)


def _settle_failure(
    message: Message, exc: wx.WeChatError | send_lock.OpenidBusy, requeue_transient: bool
) -> errors.ApiError:
    """Settle a failed call and return the API error that says what happened."""
    errcode, errmsg = getattr(exc, "errcode", None), getattr(exc, "errmsg", "") or str(exc)
    details = {"message_id": message.public_id}
    if errcode is not None:
        details.update(errcode=errcode, errmsg=errmsg)
    fields = {"errcode": errcode, "errmsg": errmsg}
    if isinstance(exc, wx.UserRefused):  # 43101: the user refused or has no credit left at WeChat
        if device_delivery.is_device_message(message):  # that device's subscription only
            device_delivery.refused(message)
        else:
            user = db.session.get(User, message.user_id)
            consent.revoke(user, message.template_id, source="send", detail={"message_id": message.public_id})
        _settle(message, "failed", outcome="consent_revoked", **fields)
        return errors.ConsentRevoked(details=details)
    if isinstance(exc, wx.DeliveryUnknown):  # it may have arrived: keep the credit spent
        _settle(message, "unknown", outcome="unknown", **fields)
        return errors.WeChatUnavailable(
            "WeChat did not answer after the message was sent; it may have been delivered.",
            details={**details, "status": "unknown"},
            status=502,
        )
    if isinstance(exc, wx.TemplateBanned):  # 43107 (docs/wechat.md §10): every later send fails alike
        mark_banned(message.template_id)
        return _refuse_banned(message, **fields)
    # Everything else surely did not send the message: the credit comes back.
    _refund(message)
    transient = isinstance(exc, _TRANSIENT)
    if requeue_transient and transient and message.attempts + 1 < MAX_ATTEMPTS:
        _settle(message, "queued", attempts=message.attempts + 1, claimed_at=None, **fields)
        return DeliveryDeferred(details=details)
    # 45168 (a value holds a blacklisted word) and 47001 (data format), docs/wechat.md §10;
    # 47003, 40037, 41030, 40003, ...: the request itself was refused, nothing was sent.
    if isinstance(exc, wx.RequestRejected):
        _settle(message, "failed", outcome="wechat_rejected", **fields)
        return errors.WeChatRejected("WeChat refused the message: {errmsg}", details=details, params={"errmsg": errmsg})
    if isinstance(exc, wx.QuotaExceeded):  # 45009 daily, 45011 minute quota
        _settle(message, "failed", outcome="rate_limited", **fields)
        return errors.RateLimited("WeChat's quota is reached; try again later.", details=details)
    # 43108 after its retries (docs/wechat.md §10), no turn for the openid, -1, unreachable: 503.
    log.error("send failed", extra={"error": type(exc).__name__, "errcode": errcode})
    _settle(message, "failed", outcome="wechat_unavailable", **fields)
    return errors.WeChatUnavailable(details=details)
