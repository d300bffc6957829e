"""The send path of shared/DESIGN.md: validate, reserve, call WeChat, settle.

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

from backend import errors, metrics
from backend.extensions import db
from backend.models import Message, Subscription, User, utcnow
from backend.services import consent
from backend.services.ledger import add_credits, audit
from backend.services.templates import get_template
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


def find_user(openid: str | None = None, user_id: int | None = None) -> User:
    if user_id is not None:
        user = db.session.get(User, user_id)
    else:
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        raise errors.UserNotFound("No user with that openid or user_id; they must log in or subscribe first.")
    return user


@dataclass
class SendResult:
    message: Message
    remaining: int | None  # credits left after this send; None for long-term templates


def send_message(request: SendRequest) -> SendResult:
    """Send one subscribe message under the ledger's rules; raises an ApiError when it was not sent.

    This is the function Python code beside the backend calls directly (inside an app context).
    """
    user = find_user(request.openid, request.user_id)
    template = get_template(request.template_id)
    values = validate_data(template, request.data, truncate=request.truncate)
    kind = template.kind if template else reported_kind(user.id, request.template_id)
    message, remaining = reserve(user, request, values, kind)
    return SendResult(deliver(message, user), remaining)


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
    remaining = db.session.execute(
        sa.update(Subscription)
        .where(
            Subscription.user_id == user_id,
            Subscription.template_id == template_id,
            Subscription.remaining > 0,
        )
        .values(remaining=Subscription.remaining - 1, updated_at=utcnow())
        .returning(Subscription.remaining)
    ).scalar()
    if remaining is not None:
        audit(user_id, template_id, "send", "spent", credits_delta=-1)

    return remaining is not None, remaining


def reserve(user: User, request: SendRequest, values: dict[str, str], kind: str) -> tuple[Message, int | None]:
    """Spend one credit and write the outbox row, in one short transaction."""
    allowed, remaining = spend_credit(user.id, request.template_id, kind)
    if not allowed:
        db.session.rollback()
        raise errors.ConsentRequired(details={"template_id": request.template_id, "user_id": user.id})
    message = Message(
        user_id=user.id,
        openid=user.openid,
        template_id=request.template_id,
        data=values,
        page=request.page,
        miniprogram_state=request.miniprogram_state or current_app.config["WX_MINIPROGRAM_STATE"],
        lang=request.lang or "zh_CN",
        status="sending",
        claimed_at=utcnow(),
    )
    db.session.add(message)
    db.session.commit()
    return message, remaining


class DeliveryDeferred(errors.ApiError):
    """A batch message met a passing failure (WeChat's quota or -1): it is queued again."""

    code, status, message = "wechat_unavailable", 503, "WeChat is busy; the message was queued again."


def deliver(message: Message, user: User, *, requeue_transient: bool = False) -> Message:
    """Call WeChat for a reserved message (outside any transaction), then settle it.

    With `requeue_transient` (batch delivery) a quota or busy answer puts the message back
    in the queue, credit returned, instead of failing it (up to MAX_ATTEMPTS).
    """
    client = current_app.extensions["wechat"]
    try:
        msgid = client.subscribe.send(
            user.openid,
            message.template_id,
            message.data,
            page=message.page,
            miniprogram_state=message.miniprogram_state,
            lang=message.lang,
        )
    except wx.WeChatError as exc:
        raise _settle_failure(message, user, exc, requeue_transient) from None
    except Exception:
        # A bug or an unexpected failure after the credit was spent: we cannot know whether
        # WeChat got it, so the message is `unknown` and the credit stays spent.
        _settle(message, "unknown", outcome="unknown")
        raise
    _settle(message, "sent", wechat_msgid=msgid, sent_at=utcnow())
    return message


def _settle(message: Message, status: str, **fields: Any) -> None:
    message.status = status
    for name, value in fields.items():
        setattr(message, name, value)
    db.session.commit()
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


def _settle_failure(message: Message, user: User, exc: wx.WeChatError, requeue_transient: bool) -> errors.ApiError:
    """Settle a failed call and return the API error that says what happened."""
    details = {"message_id": message.public_id}
    if exc.errcode is not None:
        details.update(errcode=exc.errcode, errmsg=exc.errmsg)
    fields = {"errcode": exc.errcode, "errmsg": exc.errmsg or str(exc)}
    if isinstance(exc, wx.UserRefused):  # 43101: the user refused or has no credit left at WeChat
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
    # Everything else surely did not send the message: the credit comes back.
    _refund(message)
    transient = isinstance(exc, (wx.QuotaExceeded, wx.SystemBusy, wx.WeChatUnreachable))
    if requeue_transient and transient and message.attempts + 1 < MAX_ATTEMPTS:
        _settle(message, "queued", attempts=message.attempts + 1, claimed_at=None, **fields)
        return DeliveryDeferred(details=details)
    if isinstance(exc, wx.RequestRejected):  # 47003, 40037, 41030, 40003, ...
        _settle(message, "failed", outcome="wechat_rejected", **fields)
        return errors.WeChatRejected(f"WeChat refused the message: {exc.errmsg}", details=details)
    if isinstance(exc, wx.QuotaExceeded):  # 45009 daily, 45011 minute quota
        _settle(message, "failed", outcome="rate_limited", **fields)
        return errors.RateLimited("WeChat's quota is reached; try again later.", details=details)
    log.error("send failed", extra={"error": type(exc).__name__, "errcode": exc.errcode})
    _settle(message, "failed", outcome="wechat_unavailable", **fields)
    return errors.WeChatUnavailable(details=details)
