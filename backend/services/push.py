"""WeChat's message push: authenticate, decrypt, parse, and apply each event exactly once.

WeChat signs every push with the Token (`signature`), and in safe mode also signs the
ciphertext (`msg_signature`); the body is JSON or XML, with a `List` that is an object
for one item and an array for several. WeChat retries a push it thinks failed, sometimes
concurrently: each item's dedupe key (event, openid, CreateTime, template) is unique in
the audit, so a replay changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import errors
from backend.extensions import db
from backend.models import Message
from backend.services import consent
from backend.services.ledger import audit, ensure_user
from backend.wechat.crypto import PushCipher, PushCryptoError, signature_matches

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 300  # seconds between WeChat's timestamp and ours
EVENT_LISTS = {  # XML wraps the List items in an element named after the event
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


class PushRefused(errors.ApiError):
    """The push failed authentication (signature, msg_signature, AppID or timestamp)."""

    code, status, message = "push_refused", 403, "The push could not be authenticated."


class PushMalformed(errors.ApiError):
    """The push was authentic but its body could not be read (or carried XML entities)."""

    code, status, message = "invalid_request", 400, "The push body could not be read."


def push_token() -> str:
    token = current_app.config.get("WX_TOKEN")
    if not token:
        raise errors.NotFound()  # push is not configured: nothing is listening here
    return token


def check_timestamp(timestamp: str | None) -> None:
    try:
        skew = abs(time.time() - int(timestamp or ""))
    except ValueError:
        raise PushRefused("The push has no valid timestamp.") from None
    if skew > MAX_CLOCK_SKEW:
        raise PushRefused(
            "The push timestamp is more than {max_skew} s from our clock.", params={"max_skew": MAX_CLOCK_SKEW}
        )


def verify_url(args: Mapping[str, str]) -> str:
    """URL verification (GET): the echostr when the signature holds."""
    token = push_token()
    check_timestamp(args.get("timestamp"))
    if not signature_matches((token, args.get("timestamp", ""), args.get("nonce", "")), args.get("signature")):
        raise PushRefused("The signature does not match.")
    return args.get("echostr", "")


# -- reading the body ---------------------------------------------------------------


def _xml_to_dict(element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        if len(child):
            items = [{leaf.tag: (leaf.text or "") for leaf in item} for item in child if item.tag == "List"]
            result[child.tag] = items if items else {leaf.tag: (leaf.text or "") for leaf in child}
        else:
            result[child.tag] = child.text or ""
    return result


def parse_body(raw: bytes | str) -> dict[str, Any]:
    """A JSON or XML push body as a dict; XML with a DTD or entities is refused unread."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            body = json.loads(stripped)
        elif stripped.startswith("<"):
            body = _xml_to_dict(fromstring(stripped, forbid_dtd=True, forbid_entities=True, forbid_external=True))
        else:
            raise PushMalformed("The push body is neither JSON nor XML.")
    except DefusedXmlException:
        raise PushMalformed("XML with a DTD or entities is refused.") from None
    except (ValueError, SyntaxError):  # json.JSONDecodeError, xml ParseError, bad UTF-8
        raise PushMalformed() from None
    if not isinstance(body, dict):
        raise PushMalformed("The push body must be an object.")
    return body


def authenticate(args: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    """The push message, after its signature (and in safe mode its msg_signature) held."""
    token = push_token()
    check_timestamp(args.get("timestamp"))
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    outer = parse_body(raw) if raw.strip() else {}
    encrypted = outer.get("Encrypt")
    aes_key = current_app.config.get("WX_ENCODING_AES_KEY")
    if encrypted and aes_key:
        if not signature_matches((token, timestamp, nonce, str(encrypted)), args.get("msg_signature")):
            raise PushRefused("The msg_signature does not match.")
        try:
            inner = PushCipher(aes_key, current_app.config["WX_APPID"]).decrypt(str(encrypted))
        except PushCryptoError as exc:
            raise PushRefused("The encrypted push was refused: {reason}.", params={"reason": str(exc)}) from None
        return parse_body(inner)
    if not signature_matches((token, timestamp, nonce), args.get("signature")):
        raise PushRefused("The signature does not match.")
    if encrypted and "Event" not in outer:
        raise PushRefused("An encrypted push arrived but WX_ENCODING_AES_KEY is not set.")
    return outer  # plaintext, or the plaintext half of a compatible-mode push


# -- applying events ----------------------------------------------------------------


def event_items(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The event's items: JSON `List` (object or array) or XML's wrapped `List` elements."""
    items = message.get("List")
    if items is None:
        items = message.get(EVENT_LISTS.get(str(message.get("Event")), ""), [])
    if isinstance(items, dict):
        items = [items]
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def dedupe_key(message: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    parts = [
        str(message.get("Event")),
        str(message.get("FromUserName")),
        str(message.get("CreateTime")).strip(),
        str(item.get("TemplateId")),
    ]
    if item.get("MsgID") is not None:  # two sent events of one template can share a second
        parts.append(str(item["MsgID"]))
    key = "push:" + ":".join(parts)
    return key if len(key) <= 255 else "push:" + hashlib.sha256(key.encode()).hexdigest()


def handle(message: Mapping[str, Any]) -> int:
    """Apply every item of one push exactly once; returns how many were new."""
    event = str(message.get("Event") or "")
    openid = str(message.get("FromUserName") or "")
    applied = 0
    if event not in EVENT_LISTS or not openid:
        audit(None, None, "push", "ignored", detail={"event": event[:64], "msg_type": str(message.get("MsgType"))})
        db.session.commit()
        return 0
    user = ensure_user(openid)  # a push may come before the user ever logged in
    db.session.commit()
    for item in event_items(message):
        # Looked up before the savepoint: an unknown template is fetched from WeChat, and no
        # transaction may stay open across that call.
        kind = consent.template_kind(str(item.get("TemplateId") or "")[:64])
        try:
            with db.session.begin_nested():
                _apply(event, user, item, dedupe_key(message, item), kind)
            applied += 1
        except IntegrityError:
            log.info("push replay ignored", extra={"event": event})
    db.session.commit()
    return applied


def _apply(event: str, user, item: Mapping[str, Any], key: str, kind: str) -> None:
    template_id = str(item.get("TemplateId") or "")[:64]
    status = str(item.get("SubscribeStatusString") or "")
    if event == "subscribe_msg_popup_event" and status in consent.CHOICES:
        consent.apply_choice(
            user,
            template_id,
            status,
            source="push",
            scene=str(item.get("PopupScene", ""))[:64],
            dedupe_key=key,
            kind=kind,
        )
    elif event == "subscribe_msg_change_event" and status == "reject":
        consent.revoke(user, template_id, source="push", dedupe_key=key, kind=kind)
    elif event == "subscribe_msg_sent_event":
        _record_delivery(user, template_id, item, key)
    else:
        audit(user.id, template_id, "push", "ignored", dedupe_key=key, detail={"event": event, "status": status[:32]})
    db.session.flush()  # the unique dedupe key is checked here, inside the savepoint


def _record_delivery(user, template_id: str, item: Mapping[str, Any], key: str) -> None:
    """subscribe_msg_sent_event: WeChat's final word on a message, matched by its msgid."""
    try:
        msgid = int(item.get("MsgID"))
        code = int(item.get("ErrorCode") or 0)
    except (TypeError, ValueError):
        msgid, code = None, None
    status = str(item.get("ErrorStatus") or ("success" if code == 0 else "failed"))[:32]
    message = db.session.scalar(db.select(Message).where(Message.wechat_msgid == msgid)) if msgid else None
    if message is not None:
        message.delivery_status = "delivered" if code == 0 else f"failed:{code}"
    audit(
        user.id,
        template_id,
        "push",
        "sent_event",
        dedupe_key=key,
        detail={
            "msgid": str(msgid),
            "error_code": code,
            "error_status": status,
            "message_id": message.public_id if message else None,
        },
    )


def record_refusal(reason: str, args: Mapping[str, str]) -> None:
    """Refused pushes are audited too, with why (never the body or a secret)."""
    db.session.rollback()
    audit(
        None,
        None,
        "push",
        "refused",
        detail={
            "reason": reason[:200],
            "encrypt_type": args.get("encrypt_type"),
            "timestamp": str(args.get("timestamp"))[:20],
        },
    )
    db.session.commit()
