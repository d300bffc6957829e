"""The emulator pushes subscribe-message events to the backend's message URL (docs/wechat.md §6-7).

Like WeChat: signed with the Token, encrypted in safe (or compatible) mode with the
EncodingAESKey, as JSON or XML. Popup and change events are pushed while the control
call runs, so tests see their effect at once; sent events go out from a background
thread after the send has been answered, as WeChat sends them later.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import requests

from wxemu import crypto

ORIGINAL_ID = "gh_e0000000e001"  # the emulated mini program's original id (ToUserName)
WRAPPERS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}
# The account WeChat pushes user-data changes from: their FromUserName, never the user (docs/wechat.md §13).
PLATFORM_ACCOUNT = "owAqB1v0ahK_Xlc7GshIDdf2yf7E"
USER_DATA_EVENTS = ("user_info_modified", "user_authorization_revoke", "user_authorization_cancellation")
# In JSON these are strings; in XML bare numbers (docs/wechat.md §7).
NUMERIC = {"CreateTime", "PopupScene", "MsgID", "ErrorCode"}
MODES = ("plain", "compat", "safe")
FORMATS = ("json", "xml")


@dataclass(frozen=True)
class PushTarget:
    url: str
    token: str
    appid: str
    encoding_aes_key: str | None = None
    format: str = "json"
    mode: str = "plain"


def event_message(openid: str, event: str, items: list[dict], create_time: int | None = None) -> dict:
    return {
        "ToUserName": ORIGINAL_ID,
        "FromUserName": openid,
        "CreateTime": create_time or int(time.time()),
        "MsgType": "event",
        "Event": event,
        "List": items,
    }


def user_data_message(
    appid: str, openid: str, event: str, revoke_info: str = "", create_time: int | None = None
) -> dict:
    """authorized_user_information_changes as WeChat pushes it: the user is `OpenID`."""
    message = {
        "ToUserName": ORIGINAL_ID,
        "FromUserName": PLATFORM_ACCOUNT,
        "CreateTime": create_time or int(time.time()),
        "MsgType": "event",
        "Event": event,
        "OpenID": openid,
        "AppID": appid,
    }
    if revoke_info:
        message["RevokeInfo"] = revoke_info
    return message


def to_json(message: dict) -> str:
    """JSON as WeChat sends it: numbers as strings, a one-item List as a bare object. A key written
    with spaces around it (`" OpenID"`, as in WeChat's own sample of the user-data push) is kept so."""
    body = {**message, "CreateTime": str(message["CreateTime"])}
    if "List" in message:
        items = [{k: str(v) for k, v in item.items()} for item in message["List"]]
        body["List"] = items[0] if len(items) == 1 else items
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _xml_field(name: str, value: object) -> str:
    if name in NUMERIC:
        return f"<{name}>{int(value)}</{name}>"
    return f"<{name}><![CDATA[{escape(str(value))}]]></{name}>"


def to_xml(message: dict) -> str:
    head = "".join(_xml_field(k.strip(), v) for k, v in message.items() if k != "List")
    if "List" not in message:
        return f"<xml>{head}</xml>"
    items = "".join(
        "<List>" + "".join(_xml_field(k, v) for k, v in item.items()) + "</List>" for item in message["List"]
    )
    wrapper = WRAPPERS.get(message["Event"], "List")
    return f"<xml>{head}<{wrapper}>{items}</{wrapper}></xml>"


def signed_request(target: PushTarget, message: dict, timestamp: int | None = None) -> tuple[dict, str, str]:
    """(query, body, content type) for one push of `message` to `target`."""
    timestamp_text = str(timestamp or int(time.time()))
    nonce = str(secrets.randbelow(10**9))
    plain = to_json(message) if target.format == "json" else to_xml(message)
    query = {"signature": crypto.sign(target.token, timestamp_text, nonce), "timestamp": timestamp_text, "nonce": nonce}
    content_type = "application/json" if target.format == "json" else "text/xml"
    if target.mode == "plain":
        return query, plain, content_type
    encrypted = crypto.encrypt(target.encoding_aes_key or "", target.appid, plain)
    query.update(
        encrypt_type="aes",
        openid=message["FromUserName"],
        msg_signature=crypto.sign(target.token, timestamp_text, nonce, encrypted),
    )
    if target.format == "json":
        outer = {"ToUserName": ORIGINAL_ID, "Encrypt": encrypted}
        if target.mode == "compat":
            outer = {**json.loads(plain), **outer}
        return query, json.dumps(outer, ensure_ascii=False), content_type
    inner = plain.removeprefix("<xml>").removesuffix("</xml>") if target.mode == "compat" else ""
    outer_xml = f"<xml>{_xml_field('ToUserName', ORIGINAL_ID)}{_xml_field('Encrypt', encrypted)}{inner}</xml>"
    return query, outer_xml, content_type


class Pusher:
    """Delivers pushes to the configured target; records each attempt through `log`."""

    def __init__(self, log) -> None:
        self.target: PushTarget | None = None
        self._log = log
        self._queue: queue.Queue[dict] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._http = requests.Session()

    def push_now(self, message: dict) -> int | None:
        """Push at once; the HTTP status the backend answered (None: not configured or unreachable)."""
        target = self.target
        if target is None:
            return None
        query, body, content_type = signed_request(target, message)
        try:
            response = self._http.post(
                target.url, params=query, data=body.encode(), headers={"Content-Type": content_type}, timeout=10
            )
            status = response.status_code
        except requests.RequestException:
            status = None
        self._log(
            api="push",
            method="POST",
            path=target.url,
            event=message["Event"],
            http_status=status,
            touser=message["FromUserName"],
        )
        return status

    def push_later(self, message: dict) -> None:
        if self.target is None:
            return
        self._queue.put(message)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="emulator-pusher", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Wait until every queued push has been delivered."""
        self._queue.join()

    def _drain(self) -> None:
        while True:
            message = self._queue.get()
            try:
                time.sleep(0.05)  # WeChat pushes the sent event after answering the send
                self.push_now(message)
            finally:
                self._queue.task_done()
