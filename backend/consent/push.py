"""WeChat's message push: authenticate, then apply each event exactly once (docs/wechat.md §6-7).

Verification, decryption and reading live in `backend.wechat.push`; here are the rules that
need the database or the configuration:

- With an EncodingAESKey, only `Encrypt` under `msg_signature` is accepted (safe mode).
- Without one, the signature covers the query but not the body, so one signed query
  authenticates one body: the query's first body is remembered (`PushQuery`) while the query
  is accepted; the same body again is WeChat's retry, another body a forgery.
- Refusals write no row (anyone can send them): they are counted in metrics and logged sampled.
- WeChat waits 5 s for the answer and then retries, so no WeChat call happens while a push is
  answered: a template the catalog lacks is applied as one-time, and looked up afterwards.
- WeChat retries a push it thinks failed, sometimes concurrently: each item's dedupe key
  (event, openid, CreateTime, template) is unique in the audit, so a replay changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from backend import errors, webhooks
from backend.apps import MiniProgram
from backend.consent import held, ledger, reports
from backend.consent.ledger import ensure_user, record_events, upsertable_insert
from backend.db import end_read, work
from backend.extensions import db
from backend.models import Message, PushQuery
from backend.ops import metrics
from backend.privacy import erasure, user_data_push
from backend.states import EventResult, EventSource, SubscriptionStatus
from backend.templates import catalog
from backend.templates.catalog import stored_template
from backend.templates.kinds import kind_of
from backend.wechat import push as wechat_push
from backend.wechat.crypto import PushCipher
from backend.wechat.push import EVENT_LISTS, MAX_BODY_BYTES, MAX_CLOCK_SKEW, PushEvent, PushRejected, Refusal

log = logging.getLogger(__name__)

# A query is remembered a little longer than it is accepted: machines' clocks differ a little.
QUERY_MEMORY = MAX_CLOCK_SKEW + 60
LOG_EVERY = 10.0  # seconds: at most one log line per refusal reason per process


class PushRefused(errors.ApiError):
    """The push failed authentication (signature, msg_signature, AppID or timestamp)."""

    code, status, message = "push_refused", 403, "The push could not be authenticated."


class PushMalformed(errors.ApiError):
    """The push was authentic but its body could not be read (or carried XML entities)."""

    code, status, message = "invalid_request", 400, "The push body could not be read."


def verify_url(mini_program: MiniProgram, args: Mapping[str, str]) -> str:
    """URL verification (GET) for `mini_program`: the echostr when the signature under its Token holds."""
    try:
        wechat_push.verify_query(mini_program.push_token, args, time.time())
    except PushRejected as exc:
        raise refuse(mini_program, exc) from None
    return args.get("echostr", "")


def authenticate(mini_program: MiniProgram, args: Mapping[str, str], body: IO[bytes]) -> PushEvent:
    """The push's event, once its query, its body and (in safe mode) its ciphertext held under
    `mini_program`'s Token and EncodingAESKey only (another app's keys never authenticate it, docs/wechat.md §12).

    The body is read only after the query's signature held, and at most MAX_BODY_BYTES of it;
    it is parsed only once authenticated (by msg_signature, or in plaintext mode by `bind_query`).
    """
    token = mini_program.push_token
    try:
        wechat_push.verify_query(token, args, time.time())
        raw = body.read(MAX_BODY_BYTES + 1)
        cipher = (
            PushCipher(mini_program.encoding_aes_key, mini_program.push_appid)
            if mini_program.encoding_aes_key
            else None
        )
        if cipher is None:
            # Plaintext mode: the body is authentic only as its query's first, so this comes before
            # parsing it. Even a body we can't read binds the query: nobody may swap in another.
            bind_query(args, raw)
        event = wechat_push.read_event(wechat_push.open_push(raw, args, token, cipher))
    except PushRejected as exc:
        raise refuse(mini_program, exc) from None
    return event


def bind_query(args: Mapping[str, str], raw: bytes) -> None:
    """Plaintext mode: the first body seen with this signed query is the only one it authenticates."""
    parts = (args.get("timestamp", ""), args.get("nonce", ""), args.get("signature", "").lower())
    query_hash = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    body_hash = hashlib.sha256(raw).hexdigest()
    now = int(time.time())
    # A unit of its own: the query stays bound to its first body even when that body is then refused
    # as unreadable or its events fail, so no other body can take its place.
    with work():
        # Pruned on the way (an index range, usually empty): the table holds QUERY_MEMORY seconds of pushes.
        db.session.execute(sa.delete(PushQuery).where(PushQuery.expires_at < now))
        db.session.execute(
            upsertable_insert(PushQuery)
            .values(query_hash=query_hash, body_hash=body_hash, expires_at=int(args["timestamp"]) + QUERY_MEMORY)
            .on_conflict_do_nothing(index_elements=["query_hash"])
        )
        first = db.session.scalar(sa.select(PushQuery.body_hash).where(PushQuery.query_hash == query_hash))
    if first != body_hash:
        raise wechat_push.PushForged(Refusal.QUERY_REUSED)


# -- refusals -------------------------------------------------------------------------


class SampledLog:
    """At most one line per key every `every` seconds, in this process; the others are counted."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> int | None:
        """None when this line is to be dropped; else how many were dropped since the last one."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)


refusal_log = SampledLog(LOG_EVERY)


def refuse(mini_program: MiniProgram, exc: PushRejected) -> errors.ApiError:
    """Count a refused push (for `mini_program`) and log it sampled (never its body or a secret);
    the error to answer."""
    metrics.record_push_refusal(mini_program.appid, exc.reason)
    error = refusal_error(exc.reason, exc.params)
    suppressed = refusal_log.due(exc.reason)
    if suppressed is not None:
        log.warning("push refused", extra={"reason": str(exc.reason), "why": error.message, "suppressed": suppressed})
    return error


def refusal_error(reason: Refusal, params: Mapping[str, object]) -> errors.ApiError:
    """The answer to a refused push: one literal template per reason, which the client reads in its
    own language (backend/i18n translates templates as the code raises them)."""
    match reason:
        case Refusal.TIMESTAMP:
            return PushRefused("The push has no valid timestamp.")
        case Refusal.CLOCK_SKEW:
            return PushRefused("The push timestamp is more than {max_skew} s from our clock.", params=params)
        case Refusal.SIGNATURE:
            return PushRefused("The signature does not match.")
        case Refusal.PLAINTEXT_IN_SAFE_MODE:
            return PushRefused("WX_ENCODING_AES_KEY is set: a push must carry Encrypt and msg_signature.")
        case Refusal.MSG_SIGNATURE:
            return PushRefused("The msg_signature does not match.")
        case Refusal.CIPHERTEXT:
            return PushRefused("The encrypted push was refused: {reason}.", params=params)
        case Refusal.NO_AES_KEY:
            return PushRefused("An encrypted push arrived but WX_ENCODING_AES_KEY is not set.")
        case Refusal.QUERY_REUSED:
            return PushRefused("This signed query came with another body before.")
        case Refusal.BODY_TOO_LARGE:
            return PushMalformed("The push body is over {limit} bytes.", params=params)
        case Refusal.NOT_JSON_OR_XML:
            return PushMalformed("The push body is neither JSON nor XML.")
        case Refusal.NOT_AN_OBJECT:
            return PushMalformed("The push body must be an object.")
        case Refusal.XML_ENTITIES:
            return PushMalformed("XML with a DTD or entities is refused.")
        case Refusal.BAD_FIELD:
            return PushMalformed("The push's {field} is not valid.", params=params)
        case Refusal.FIELD_TOO_LONG:
            return PushMalformed("The push's {field} is longer than {limit} characters.", params=params)
        case Refusal.TOO_MANY_ITEMS:
            return PushMalformed("A push lists at most {limit} items.", params=params)
    return PushMalformed()  # Refusal.UNREADABLE: the class's own message


# -- applying events ----------------------------------------------------------------


def dedupe_key(message: PushEvent, item: Mapping[str, str]) -> str:
    parts = [message.event, message.openid, message.create_time, item.get("TemplateId", "")]
    if "MsgID" in item:  # two sent events of one template can share a second
        parts.append(item["MsgID"])
    key = "push:" + ":".join(parts)
    return key if len(key) <= 255 else "push:" + hashlib.sha256(key.encode()).hexdigest()


def handle(app_id: str, message: PushEvent) -> set[str]:
    """Apply every item of one push for `app_id` exactly once; returns the template ids its catalog lacks.

    Those were applied as one-time; `look_up_templates` asks WeChat about them, after the answer.
    """
    unknown: set[str] = set()
    if message.event in user_data_push.EVENTS:  # authorized_user_information_changes (docs/wechat.md §13)
        user_data_push.apply(app_id, message)
        return unknown
    if message.event not in EVENT_LISTS or not message.openid:
        detail = {"event": message.event, "msg_type": message.msg_type}
        with work():
            record_events(app_id, [None], None, EventSource.PUSH, EventResult.IGNORED, detail=detail)
        return unknown
    if message.event != "subscribe_msg_popup_event" and erasure.is_tombstoned(app_id, message.openid):
        # An erased person's late events (a sent event, a change): no user is made again for them.
        # A popup is the same openid using the mini program anew: a new user, as a log-in makes.
        end_read()
        return unknown
    # Two units. The user (a push may come before the user ever logged in) is committed by itself
    # first: a new user's row stays locked until its unit ends, and a login or another push for
    # the same openid then waits for that insert only, not for every item of this push.
    with work():
        user = ensure_user(app_id, message.openid)
    # Then the items, all in one unit: each in a savepoint, since its audit row carries its
    # unique dedupe key; a replayed item fails on it and its savepoint undoes whatever it had
    # written, so the replay counts once and the other items still commit.
    released: list[int] = []
    holding = held.anything_held(app_id)  # asked before the unit: a read that ends
    with work():
        for item in message.items:
            template_id = item.get("TemplateId", "")
            # The catalog's kind, never WeChat's: WeChat waits for this answer (looked up after it).
            template = stored_template(app_id, template_id) if template_id else None
            if template is None and template_id:
                unknown.add(template_id)
            kind = kind_of(template)
            try:
                with db.session.begin_nested():
                    released += _apply(app_id, message.event, user.id, item, dedupe_key(message, item), kind, holding)
            except IntegrityError:
                log.info("push replay ignored", extra={"event": message.event, "user_id": user.id})
    held.enqueue(released)  # committed with the credits that released them
    return unknown


def _apply(
    app_id: str, event: str, user_id: int, item: Mapping[str, str], key: str, kind: str, holding: bool = False
) -> list[int]:
    """Apply one item in the caller's savepoint; the held messages its credit released (`holding`:
    the app may hold some, consent/held.py)."""
    template_id = item.get("TemplateId", "")
    status = item.get("SubscribeStatusString", "")
    if event == "subscribe_msg_popup_event" and status in reports.CHOICES:
        choices = [ledger.Choice(template_id, kind, status)]
        rows = ledger.current().grant(
            app_id, user_id, choices, source=EventSource.PUSH, scene=item.get("PopupScene", ""), dedupe_key=key
        )
        for row in rows:
            webhooks.emit_subscription(row, status)
        if status == SubscriptionStatus.ACCEPT and holding:
            return held.release_granted(app_id, user_id, rows)
    elif event == "subscribe_msg_change_event" and status == SubscriptionStatus.REJECT:
        reports.revoke(app_id, user_id, template_id, source=EventSource.PUSH, dedupe_key=key, kind=kind)
    elif event == "subscribe_msg_sent_event":
        _record_delivery(app_id, user_id, template_id, item, key)
    else:
        detail = {"event": event, "status": status}
        record_events(
            app_id, [user_id], template_id, EventSource.PUSH, EventResult.IGNORED, dedupe_key=key, detail=detail
        )
    return []


_messages = Message.__table__
_DELIVERED = (
    sa.update(_messages)
    .where(_messages.c.app_id == sa.bindparam("app"), _messages.c.wechat_msgid == sa.bindparam("msgid"))
    .values(delivery_status=sa.bindparam("delivery_status"))
    .returning(_messages.c.public_id)
)


def _record_delivery(app_id: str, user_id: int, template_id: str, item: Mapping[str, str], key: str) -> None:
    """subscribe_msg_sent_event: WeChat's final word on a message, matched by its msgid."""
    try:
        msgid = int(item.get("MsgID", ""))
        code = int(item.get("ErrorCode") or 0)
    except ValueError:
        msgid, code = None, None
    status = (item.get("ErrorStatus") or ("success" if code == 0 else "failed"))[:32]
    public_id = None
    if msgid:
        delivery_status = "delivered" if code == 0 else f"failed:{code}"
        params = {"app": app_id, "msgid": msgid, "delivery_status": delivery_status}
        public_id = db.session.scalar(_DELIVERED, params)
        if public_id is not None:
            webhooks.emit_delivery(public_id)
    detail = {"msgid": str(msgid), "error_code": code, "error_status": status, "message_id": public_id}
    record_events(
        app_id, [user_id], template_id, EventSource.PUSH, EventResult.SENT_EVENT, dedupe_key=key, detail=detail
    )


# -- after the answer -------------------------------------------------------------------

_looking_up: set[str] = set()
_looking_up_lock = threading.Lock()


def look_up_templates(flask_app: Flask, mini_program: MiniProgram, template_ids: Iterable[str]) -> None:
    """After a push for `mini_program` was answered: ask its WeChat (one call at most) about the templates it
    named that the catalog lacks, and give their subscriptions the kind WeChat says.

    Ids already being looked up in this process are skipped; an id WeChat did not know is not
    asked about again for a while (`catalog.look_up`). Never raises: the answer is gone.
    """
    with _looking_up_lock:
        ids = {(mini_program.appid, template_id) for template_id in template_ids} - _looking_up
        _looking_up.update(ids)
    if not ids:
        return
    try:
        with flask_app.app_context():
            reports.correct_kinds(mini_program.appid, catalog.look_up(mini_program, sorted(t for _, t in ids)).values())
    except Exception:
        log.exception("template look-up after a push failed")
    finally:
        with _looking_up_lock:
            _looking_up.difference_update(ids)
