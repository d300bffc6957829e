"""WeChat's message push (docs/wechat.md §6-7): verify, decrypt and read one push, within bounds.

`verify_query` checks the clock and the Token's `signature` before a byte of the body is
read. `open_push` finds the message: with an EncodingAESKey only inside `Encrypt`, under
`msg_signature` (a plaintext body is refused: its signature never covers the body).
`read_event` turns the message into a `PushEvent` whose every field is bounded, or refuses
it. Nothing here stores anything: binding a plaintext-mode query to one body, and applying
the events, are the caller's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from backend.wechat.crypto import PushCipher, PushCryptoError, signature_matches

MAX_CLOCK_SKEW = 300  # seconds between WeChat's timestamp and ours
MAX_BODY_BYTES = 64 * 1024  # a 5-item push in compatible mode (plaintext and ciphertext) is a few KB
MAX_ITEMS = 5  # a popup asks for at most 5 templates (a device popup for 3)
EVENT_LISTS = {  # XML wraps the List items in an element named after the event
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}
# The fields read, each with its longest value: an openid is 28 characters, a template id 43.
# OpenID, AppID and RevokeInfo: the user-data push (authorized_user_information_changes, docs/wechat.md §13),
# whose user is `OpenID`; its FromUserName is WeChat's push account.
MESSAGE_FIELDS = {
    "FromUserName": 64,
    "CreateTime": 12,
    "MsgType": 32,
    "Event": 64,
    "OpenID": 64,
    "AppID": 32,
    "RevokeInfo": 64,
}
ITEM_FIELDS = {
    "TemplateId": 64,
    "SubscribeStatusString": 16,
    "PopupScene": 16,
    "MsgID": 20,
    "ErrorCode": 16,
    "ErrorStatus": 128,
}
_SECONDS = re.compile(r"[0-9]{1,12}")  # Unix seconds (str.isdigit and \d take other digits too)


class Refusal(StrEnum):
    """Why a push was refused: a metric label, so a short fixed set."""

    # Not authenticated (403)
    TIMESTAMP = "timestamp"  # not a number of seconds
    CLOCK_SKEW = "clock_skew"
    SIGNATURE = "signature"
    PLAINTEXT_IN_SAFE_MODE = "plaintext_in_safe_mode"
    MSG_SIGNATURE = "msg_signature"
    CIPHERTEXT = "ciphertext"  # params: reason
    NO_AES_KEY = "no_aes_key"
    QUERY_REUSED = "query_reused"
    # Authenticated but unreadable (400)
    BODY_TOO_LARGE = "body_too_large"  # params: limit
    NOT_JSON_OR_XML = "not_json_or_xml"
    UNREADABLE = "unreadable"
    NOT_AN_OBJECT = "not_an_object"
    XML_ENTITIES = "xml_entities"
    BAD_FIELD = "bad_field"  # params: field
    FIELD_TOO_LONG = "field_too_long"  # params: field, limit
    TOO_MANY_ITEMS = "too_many_items"  # params: limit


class PushRejected(ValueError):
    """A push that is not applied: `reason` says why, `params` the particulars (never a secret)."""

    authenticated = False

    def __init__(self, reason: Refusal, /, **params: object) -> None:
        super().__init__(reason.value, params)
        self.reason = reason
        self.params = params


class PushForged(PushRejected):
    """The push could not be authenticated: its signature, clock or ciphertext do not hold."""


class PushUnreadable(PushRejected):
    """The push is authentic, but its body is not one WeChat sends (or exceeds its bounds)."""

    authenticated = True


@dataclass(frozen=True)
class PushEvent:
    """One push as read: every field a bounded string ("" when absent)."""

    event: str
    openid: str
    create_time: str
    msg_type: str
    items: tuple[Mapping[str, str], ...] = ()
    # The user-data push only (docs/wechat.md §13): the user, the mini program, what was withdrawn.
    user_openid: str = ""
    appid: str = ""
    revoke_info: str = ""


def check_timestamp(timestamp: str | None, now: float) -> None:
    if not _SECONDS.fullmatch(timestamp or ""):
        raise PushForged(Refusal.TIMESTAMP)
    if abs(now - int(timestamp or "")) > MAX_CLOCK_SKEW:
        raise PushForged(Refusal.CLOCK_SKEW, max_skew=MAX_CLOCK_SKEW)


def verify_query(token: str, args: Mapping[str, str], now: float) -> None:
    """The query's timestamp is recent and its `signature` is the Token's (URL check and push alike)."""
    check_timestamp(args.get("timestamp"), now)
    if not signature_matches((token, args.get("timestamp", ""), args.get("nonce", "")), args.get("signature")):
        raise PushForged(Refusal.SIGNATURE)


def open_push(raw: bytes, args: Mapping[str, str], token: str, cipher: PushCipher | None) -> dict[str, Any]:
    """The message a push carries; `cipher` is None in plaintext mode (no EncodingAESKey)."""
    outer = parse_body(raw) if raw.strip() else {}
    encrypted = outer.get("Encrypt")
    if cipher is not None:
        # Safe and compatible mode: only the ciphertext counts, whatever plaintext comes with it.
        if not isinstance(encrypted, str) or not encrypted:
            raise PushForged(Refusal.PLAINTEXT_IN_SAFE_MODE)
        parts = (token, args.get("timestamp", ""), args.get("nonce", ""), encrypted)
        if not signature_matches(parts, args.get("msg_signature")):
            raise PushForged(Refusal.MSG_SIGNATURE)
        try:
            inner = cipher.decrypt(encrypted)
        except PushCryptoError as exc:
            raise PushForged(Refusal.CIPHERTEXT, reason=str(exc)) from None
        return parse_body(inner)
    if encrypted is not None and "Event" not in outer:
        raise PushForged(Refusal.NO_AES_KEY)
    return outer  # plaintext, or the plaintext half of a compatible-mode push


def parse_body(raw: bytes | str) -> dict[str, Any]:
    """A JSON or XML push body as a dict; XML with a DTD or entities is refused unread."""
    if len(raw) > MAX_BODY_BYTES:
        raise PushUnreadable(Refusal.BODY_TOO_LARGE, limit=MAX_BODY_BYTES)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        stripped = text.lstrip()
        if stripped.startswith("{"):
            body = json.loads(stripped)
        elif stripped.startswith("<"):
            body = _xml_to_dict(fromstring(stripped, forbid_dtd=True, forbid_entities=True, forbid_external=True))
        else:
            raise PushUnreadable(Refusal.NOT_JSON_OR_XML)
    except DefusedXmlException:
        raise PushUnreadable(Refusal.XML_ENTITIES) from None
    # Bad UTF-8, JSON or XML; nesting deeper than the parser's recursion limit (WeChat nests 3 deep).
    except (ValueError, SyntaxError, RecursionError):
        raise PushUnreadable(Refusal.UNREADABLE) from None
    if not isinstance(body, dict):
        raise PushUnreadable(Refusal.NOT_AN_OBJECT)
    return _trimmed_keys(body)


def _trimmed_keys(body: dict[str, Any]) -> dict[str, Any]:
    """Keys with surrounding spaces trimmed: WeChat's own JSON sample of the user-data push has
    `" OpenID"` (docs/wechat.md §13). A List's items likewise."""
    trimmed: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            value = {k.strip(): v for k, v in value.items()}
        elif isinstance(value, list):
            value = [{k.strip(): v for k, v in item.items()} if isinstance(item, dict) else item for item in value]
        trimmed[key.strip()] = value
    return trimmed


def _xml_to_dict(element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        if len(child):
            items = [{leaf.tag: (leaf.text or "") for leaf in item} for item in child if item.tag == "List"]
            result[child.tag] = items if items else {leaf.tag: (leaf.text or "") for leaf in child}
        else:
            result[child.tag] = child.text or ""
    return result


def read_event(message: Mapping[str, Any]) -> PushEvent:
    """The fields we use, each checked: a string (or JSON number) within its bound, no NUL, valid Unicode."""
    fields = {name: _text(message.get(name), name, limit) for name, limit in MESSAGE_FIELDS.items()}
    create_time = fields["CreateTime"].strip()
    if create_time and not _SECONDS.fullmatch(create_time):
        raise PushUnreadable(Refusal.BAD_FIELD, field="CreateTime")
    event = fields["Event"]
    items = _items(message, event) if event in EVENT_LISTS else []
    if len(items) > MAX_ITEMS:
        raise PushUnreadable(Refusal.TOO_MANY_ITEMS, limit=MAX_ITEMS)
    return PushEvent(
        event=event,
        openid=fields["FromUserName"],
        create_time=create_time,
        msg_type=fields["MsgType"],
        items=tuple(_item(item) for item in items),
        user_openid=fields["OpenID"].strip(),
        appid=fields["AppID"].strip(),
        revoke_info=fields["RevokeInfo"].strip(),
    )


def _items(message: Mapping[str, Any], event: str) -> list[Any]:
    """JSON's `List` (an object for one item, an array for several) or XML's wrapped `List` elements."""
    items = message.get("List")
    if items is None:
        items = message.get(EVENT_LISTS[event], [])
    if isinstance(items, dict):
        return [items]
    if not isinstance(items, list):
        raise PushUnreadable(Refusal.BAD_FIELD, field="List")
    return items


def _item(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        raise PushUnreadable(Refusal.BAD_FIELD, field="List")
    return {name: _text(item[name], name, limit) for name, limit in ITEM_FIELDS.items() if item.get(name) is not None}


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PushUnreadable(Refusal.BAD_FIELD, field=name)
    text = str(value)
    if len(text) > limit:
        raise PushUnreadable(Refusal.FIELD_TOO_LONG, field=name, limit=limit)
    if "\x00" in text or not _encodes(text):
        raise PushUnreadable(Refusal.BAD_FIELD, field=name)
    return text


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")  # a lone surrogate ("\ud800") does not, and no database stores it
    except UnicodeEncodeError:
        return False
    return True
