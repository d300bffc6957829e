"""The send path of docs/design.md: validate, reserve, call WeChat, settle.

1. Validate the values against the template's keyword rules (422, no credit used).
2. Reserve in one short transaction: the ledger spends the credit and writes the `Message`
   row. No credit means no consent: 409 and no WeChat call.
3. Call WeChat outside any transaction.
4. Settle in a second short transaction, by what WeChat answered (a refund goes with it).
The credit rules are the ledger's (consent/ledger.py); on PostgreSQL the reserve and the
settle are one statement each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.consent import held, ledger, reports, standing
from backend.db import work
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Message, Template, User, utcnow
from backend.ops import metrics
from backend.sending import device_delivery, send_lock
from backend.sending.rows import message_row
from backend.states import EventSource, IfNoCredit, MessageStatus, Outcome
from backend.templates.catalog import get_template, is_banned, mark_banned, refuse_if_banned
from backend.templates.kinds import kind_of
from backend.templates.values import validate_data
from backend.wechat import errors as wx

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # deliveries of one batch message that WeChat's quota or -1 may defer
DEFAULT_WAIT = timedelta(days=7)  # how long a held send waits when its caller names no wait_until


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
    if_no_credit: str = IfNoCredit.FAIL
    wait_until: datetime | None = None  # with "wait": held until then (consent/held.py)


@dataclass(frozen=True)
class Recipient:
    id: int
    openid: str
    app_id: str


# A send is every request's hot path, so its statements are Core, built once: no ORM unit
# of work, no statement construction or cache-key computation per call (together they cost
# more CPU than the rest of a send). The credit, the message row and the settle are the
# ledger's (consent/ledger.py): on PostgreSQL single statements in autocommit.
_users = User.__table__
# Within the app: a user_id of another app is no user here (404), like an openid of another app.
_APP = _users.c.app_id == sa.bindparam("app_id")
_RECIPIENT = (_users.c.id, _users.c.openid, _users.c.erased_at)
_USER_BY_ID = sa.select(*_RECIPIENT).where(_APP, _users.c.id == sa.bindparam("key"))
_USER_BY_OPENID = sa.select(*_RECIPIENT).where(_APP, _users.c.openid == sa.bindparam("key"))


def find_recipient(app_id: str, openid: str | None = None, user_id: int | None = None) -> Recipient:
    """The id and openid of `app_id`'s user, read from the database on every send.

    Not remembered by the process: an erase (privacy/erasure.py) renames the user's openid and
    marks the row in whichever process runs it, and a remembered entry elsewhere would go on
    answering for the erased person. One primary-key or unique-index read per send.
    """
    query, key = (_USER_BY_ID, user_id) if user_id is not None else (_USER_BY_OPENID, openid)
    row = db.session.execute(query, {"app_id": app_id, "key": key}).first()
    if row is None:
        raise errors.UserNotFound("No user with that openid or user_id; they must log in or subscribe first.")
    if row.erased_at is not None:  # only a user_id still names an erased user (the openid was renamed)
        raise errors.UserErased(details={"user_id": row.id})
    return Recipient(row.id, row.openid, app_id)


@dataclass
class SendResult:
    message: Message
    remaining: int | None  # credits left after this send; None for long-term templates


def send_message(mini_program: MiniProgram, request: SendRequest, key: idempotency.Claim | None = None) -> SendResult:
    """Send one subscribe message of `mini_program` under the ledger's rules; raises an ApiError when it was not sent.

    This is the function Python code beside the backend calls directly (inside an app context).
    `key`: the Idempotency-Key the request holds; the outbox row is written with it.
    With `if_no_credit: "wait"` a send without a credit (or to a user whose main switch is off)
    is held instead of refused: the result's message is `awaiting_consent`, nothing was called.
    """
    row, template = checked_row(mini_program, request, MessageStatus.SENDING, utcnow())
    waits = request.if_no_credit == IfNoCredit.WAIT
    if standing.switched_off(mini_program.appid, row["user_id"]):  # WeChat would refuse it: no call
        if waits:
            return SendResult(hold(row, request.wait_until, key), None)
        raise errors.MainSwitchOff(details={"template_id": row["template_id"], "user_id": row["user_id"]})
    kind = kind_of(template, user_id=row["user_id"], template_id=request.template_id)
    turn = send_lock.Turn(mini_program.client.appid, row["openid"])
    try:
        try:
            message, remaining = reserve(row, kind, key, turn)
        except errors.ConsentRequired:
            if not waits:
                raise
            return SendResult(hold(row, request.wait_until, key), None)
        return SendResult(deliver(mini_program, message, turn=turn), remaining)
    finally:
        turn.give_back()  # held, unless the settle gave it back


def hold(row: dict[str, Any], wait_until: datetime, key: idempotency.Claim | None = None) -> Message:
    """Write a send without a credit as held (`awaiting_consent` until `wait_until`), with the
    Idempotency-Key's record, in one unit of work: the next credit for its (user, template)
    releases it (consent/held.py). Nothing is spent and WeChat is not called."""
    # Python callers may leave wait_until out: the API's default, 7 days.
    wait_until = wait_until or utcnow() + DEFAULT_WAIT
    row = {**row, "status": MessageStatus.AWAITING_CONSENT, "claimed_at": None, "wait_until": wait_until}
    with work():
        message_id = db.session.execute(
            sa.insert(Message.__table__).returning(Message.__table__.c.id), row
        ).scalar_one()
        idempotency.record_effect(key, {"message": row["public_id"], "later": True})
    held.note_held(row["app_id"])
    message = Message(id=message_id, **row)
    make_transient_to_detached(message)
    return message


def checked_row(
    mini_program: MiniProgram,
    request: SendRequest,
    status: MessageStatus,
    now: datetime,
    send_at: datetime | None = None,
) -> tuple[dict[str, Any], Template | None]:
    """The outbox row of one send request, checked as every send is before anything is written:
    404 for no such user, 409 for a banned template, 422 for values WeChat would refuse (47003).
    Also the template, as the catalog knows it (None when WeChat never confirmed it)."""
    recipient = find_recipient(mini_program.appid, request.openid, request.user_id)
    template = get_template(mini_program, request.template_id)
    refuse_if_banned(mini_program.appid, request.template_id)
    values = validate_data(template, request.data, truncate=request.truncate)
    row = message_row(
        mini_program,
        template_id=request.template_id,
        data=values,
        user_id=recipient.id,
        openid=recipient.openid,
        status=status,
        now=now,
        page=request.page,
        miniprogram_state=request.miniprogram_state,
        lang=request.lang,
        send_at=send_at,
        wait_until=request.wait_until if request.if_no_credit == IfNoCredit.WAIT else None,
    )
    return row, template


def reserve(
    row: dict[str, Any], kind: str, key: idempotency.Claim | None = None, turn: send_lock.Turn | None = None
) -> tuple[Message, int | None]:
    """Spend one credit and write the outbox row `row` (sending/rows.py), in one unit of work.

    With an Idempotency-Key the unit also writes the message beside the key (raising
    KeyTaken, nothing spent, if another request with the key got there first). Without one,
    nothing else is written with it: on PostgreSQL the ledger runs it as one statement alone.
    Either way, on PostgreSQL that statement takes the recipient's `turn` too when it can (then
    `turn.held`).
    """
    rider = turn.rider() if turn is not None and not turn.held else None
    with work():
        reserved = ledger.current().reserve(row, kind=kind, alone=key is None, rider=rider)
        if reserved is None:
            raise errors.ConsentRequired(details={"template_id": row["template_id"], "user_id": row["user_id"]})
        message_id, remaining = reserved
        idempotency.record_effect(key, {"message": row["public_id"], "remaining": remaining})
    # The row as written, detached: callers read it, and the settle step updates it by id.
    message = Message(id=message_id, **row)
    make_transient_to_detached(message)
    return message, remaining


class DeliveryDeferred(errors.ApiError):
    """A batch message met a passing failure (WeChat's quota or -1): it is queued again."""

    code, status, message = "wechat_unavailable", 503, "WeChat is busy; the message was queued again."


def deliver(
    mini_program: MiniProgram,
    message: Message,
    *,
    requeue_transient: bool = False,
    turn: send_lock.Turn | None = None,
) -> Message:
    """Call `mini_program`'s WeChat for a reserved message (outside any transaction), then settle it.

    The call waits for the user's turn: one send per (app, openid) in flight, everywhere
    (sending/send_lock.py). With `requeue_transient` (batch delivery) a quota, busy or
    no-turn failure puts the message back in the queue, credit returned, instead of failing
    it (up to MAX_ATTEMPTS). `turn`: the recipient's, when the reserve took it.
    """
    turn = turn or send_lock.Turn(mini_program.client.appid, message.openid)
    try:
        return _call_and_settle(mini_program, message, requeue_transient, turn)
    finally:
        turn.give_back()  # held, unless the settle gave it back
        if message.status != MessageStatus.SENDING:  # settled (every path settles once), counted for its app
            metrics.record_send(mini_program.appid, message.shown_outcome, message.errcode)


def _call_and_settle(
    mini_program: MiniProgram, message: Message, requeue_transient: bool, turn: send_lock.Turn
) -> Message:
    client = mini_program.client
    if not mini_program.usable:  # a platform's merchant app revoked or lacks set 18: no WeChat call
        with work():
            _refund(message)
            _settle(message, MessageStatus.FAILED, outcome=Outcome.APP_UNAUTHORIZED)
        raise errors.AppUnauthorized(details={"message_id": message.public_id, "appid": mini_program.appid})
    if is_banned(message.app_id, message.template_id):  # an earlier 43107: WeChat would refuse it the same way
        with work():
            error = _refuse_banned(message)
        raise error from None
    try:
        with send_lock.openid_turn(client.appid, message.openid, turn):
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
        with work():  # the outcome, with the refund or the revocation it brings
            error = _settle_failure(message, exc, requeue_transient)
        raise error from None
    except Exception:
        # A bug or an unexpected failure after the credit was spent: we cannot know whether
        # WeChat got it, so the message is `unknown` and the credit stays spent.
        with work():
            _settle(message, MessageStatus.UNKNOWN, outcome=Outcome.UNKNOWN)
        raise
    with work():  # the turn given back with it, where the settle can carry it
        _settle(message, MessageStatus.SENT, turn, wechat_msgid=msgid, sent_at=utcnow())
    return message


def _settle(message: Message, status: str, turn: send_lock.Turn | None = None, **fields: Any) -> None:
    """Write the outcome (one UPDATE by id) in the caller's unit of work, with whatever else it holds."""
    changes = {"status": status, **fields, "updated_at": utcnow()}
    # With WEBHOOK_URL: the event row joins this transaction, so the settle commits it with the status.
    webhooks.emit_settled(message, changes)
    ledger.current().settle(message.id, changes, _held_rider(turn))
    for name, value in changes.items():  # the object mirrors the row, without a second write
        set_committed_value(message, name, value)


def _held_rider(turn: send_lock.Turn | None) -> send_lock.FoldedTurn | None:
    """The held turn as a rider of the settle (PostgreSQL leases), to be given back with it."""
    return turn.rider() if turn is not None and turn.held else None


def _refund(message: Message) -> None:
    """The credit back (one-time subscriptions only), in the transaction the settle commits."""
    ledger.current().refund(message.template_id, [message.user_id], detail={"message_id": message.public_id})


def _refuse_banned(message: Message, **fields: Any) -> errors.TemplateBanned:
    """Fail the message as `template_banned`, its credit returned."""
    _refund(message)
    fields = {"errcode": 43107, "errmsg": "the template is banned", **fields}
    _settle(message, MessageStatus.FAILED, outcome=Outcome.TEMPLATE_BANNED, **fields)
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
            reports.revoke(
                message.app_id,
                message.user_id,
                message.template_id,
                source=EventSource.SEND,
                detail={"message_id": message.public_id},
            )
        _settle(message, MessageStatus.FAILED, outcome=Outcome.CONSENT_REVOKED, **fields)
        return errors.ConsentRevoked(details=details)
    if isinstance(exc, wx.DeliveryUnknown):  # it may have arrived: keep the credit spent
        _settle(message, MessageStatus.UNKNOWN, outcome=Outcome.UNKNOWN, **fields)
        return errors.WeChatUnavailable(
            "WeChat did not answer after the message was sent; it may have been delivered.",
            details={**details, "status": MessageStatus.UNKNOWN},
            status=502,
        )
    if isinstance(exc, wx.PlatformError):  # a platform's chain: 61003/61007, 61004, no ticket, 61023 lost
        _refund(message)
        unauthorized = isinstance(exc, wx.AppNotAuthorized)
        if not unauthorized and requeue_transient and message.attempts + 1 < MAX_ATTEMPTS:
            # No ticket yet, the whitelist, a lost refresh token: passing, so a queued message waits.
            _settle(message, MessageStatus.QUEUED, attempts=message.attempts + 1, claimed_at=None, **fields)
            return DeliveryDeferred(details=details)
        outcome = Outcome.APP_UNAUTHORIZED if unauthorized else Outcome.WECHAT_UNAVAILABLE
        _settle(message, MessageStatus.FAILED, outcome=outcome, **fields)
        error = errors.platform_error(exc)
        error.details = {**details, **error.details}
        return error
    if isinstance(exc, wx.TemplateBanned):  # 43107 (docs/wechat.md §10): every later send fails alike
        mark_banned(message.app_id, message.template_id)
        return _refuse_banned(message, **fields)
    # Everything else surely did not send the message: the credit comes back.
    _refund(message)
    transient = isinstance(exc, _TRANSIENT)
    if requeue_transient and transient and message.attempts + 1 < MAX_ATTEMPTS:
        _settle(message, MessageStatus.QUEUED, attempts=message.attempts + 1, claimed_at=None, **fields)
        return DeliveryDeferred(details=details)
    # 45168 (a value holds a blacklisted word) and 47001 (data format), docs/wechat.md §10;
    # 47003, 40037, 41030, 40003, ...: the request itself was refused, nothing was sent.
    if isinstance(exc, wx.RequestRejected):
        _settle(message, MessageStatus.FAILED, outcome=Outcome.WECHAT_REJECTED, **fields)
        return errors.WeChatRejected("WeChat refused the message: {errmsg}", details=details, params={"errmsg": errmsg})
    if isinstance(exc, wx.QuotaExceeded):  # 45009 daily, 45011 minute quota
        _settle(message, MessageStatus.FAILED, outcome=Outcome.RATE_LIMITED, **fields)
        return errors.RateLimited("WeChat's quota is reached; try again later.", details=details)
    # 43108 after its retries (docs/wechat.md §10), no turn for the openid, -1, unreachable: 503.
    log.error("send failed", extra={"error": type(exc).__name__, "errcode": errcode})
    _settle(message, MessageStatus.FAILED, outcome=Outcome.WECHAT_UNAVAILABLE, **fields)
    return errors.WeChatUnavailable(details=details)
