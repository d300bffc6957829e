"""Subscribe messages: `subscribe/send` and template management (`/wxaapi/newtmpl/*`)."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from backend.wechat.errors import ConcurrentSend

if TYPE_CHECKING:
    from backend.wechat.client import WeChatClient


# 43108 (docs/wechat.md §10): WeChat refused the send because another send to the same openid
# was in flight; nothing was sent, so it is tried again after a short random pause.
CONCURRENT_RETRIES = 3
CONCURRENT_PAUSE = (0.05, 0.25)  # seconds, drawn anew before each retry


class SubscribeAPI:
    def __init__(self, client: WeChatClient, pause: tuple[float, float] = CONCURRENT_PAUSE) -> None:
        self._client = client
        self._pause = pause

    def send(
        self,
        touser: str,
        template_id: str,
        data: dict[str, str],
        *,
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str | None = None,
    ) -> int | None:
        """`POST /cgi-bin/message/subscribe/send`; returns WeChat's `msgid` when it gives one.

        Not idempotent: a time-out after sending raises DeliveryUnknown, never a repeat.
        A 43108 (another send to this openid in flight) is retried up to CONCURRENT_RETRIES times.
        Raises UserRefused (43101), TemplateBanned (43107), ConcurrentSend (43108, retries spent),
        RequestRejected (47003, 45168, 47001, 40037, 41030, 40003), QuotaExceeded.
        """
        body: dict[str, Any] = {
            "touser": touser,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        for name, value in (("page", page), ("miniprogram_state", miniprogram_state), ("lang", lang)):
            if value:
                body[name] = value
        for retry in range(CONCURRENT_RETRIES + 1):
            try:
                reply = self._client.call(
                    "subscribe_send", "POST", "/cgi-bin/message/subscribe/send", json=body, idempotent=False
                )
                break
            except ConcurrentSend:
                if retry == CONCURRENT_RETRIES:
                    raise
                time.sleep(random.uniform(*self._pause))
        msgid = reply.get("msgid")
        return int(msgid) if msgid is not None else None


class TemplateAPI:
    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        """`GET /wxaapi/newtmpl/gettemplate`: the account's private templates."""
        return self._client.call("gettemplate", "GET", "/wxaapi/newtmpl/gettemplate").get("data", [])

    def public_titles(self, category_ids: list[int], start: int = 0, limit: int = 30) -> list[dict[str, Any]]:
        """`GET /wxaapi/newtmpl/getpubtemplatetitles`: public templates of the given categories."""
        params = {"ids": ",".join(str(i) for i in category_ids), "start": start, "limit": limit}
        return self._client.call(
            "getpubtemplatetitles", "GET", "/wxaapi/newtmpl/getpubtemplatetitles", params=params
        ).get("data", [])

    def public_keywords(self, tid: str | int) -> list[dict[str, Any]]:
        """`GET /wxaapi/newtmpl/getpubtemplatekeywords`: a public template's keywords and rules."""
        reply = self._client.call(
            "getpubtemplatekeywords", "GET", "/wxaapi/newtmpl/getpubtemplatekeywords", params={"tid": tid}
        )
        return reply.get("data", [])

    def add(self, tid: str | int, kid_list: list[int], scene_desc: str = "") -> str:
        """`POST /wxaapi/newtmpl/addtemplate`, form-encoded as WeChat advises; returns the priTmplId."""
        form = {"tid": str(tid), "kidList": [str(kid) for kid in kid_list], "sceneDesc": scene_desc}
        reply = self._client.call("addtemplate", "POST", "/wxaapi/newtmpl/addtemplate", data=form, idempotent=False)
        return reply["priTmplId"]

    def delete(self, pri_tmpl_id: str) -> None:
        """`POST /wxaapi/newtmpl/deltemplate`."""
        self._client.call("deltemplate", "POST", "/wxaapi/newtmpl/deltemplate", json={"priTmplId": pri_tmpl_id})

    def categories(self) -> list[dict[str, Any]]:
        """`GET /wxaapi/newtmpl/getcategory`: the account's categories."""
        return self._client.call("getcategory", "GET", "/wxaapi/newtmpl/getcategory").get("data", [])
