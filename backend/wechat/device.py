"""Device subscribe messages: `getsnticket` and the device send (docs/wechat.md §11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.wechat.client import WeChatClient

# "设备票据，5分钟内有效" (docs/wechat.md §11a): getsnticket's answer carries no expires_in.
SN_TICKET_TTL = 300  # seconds


class DeviceAPI:
    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    def sn_ticket(self, model_id: str, sn: str) -> str:
        """`POST /wxa/getsnticket`: a ticket for one device's subscribe popup, valid SN_TICKET_TTL seconds.

        Raises InvalidDevice (9800001 / 9800002 naming `sn`, 9800003 naming `model_id`).
        """
        reply = self._client.call("getsnticket", "POST", "/wxa/getsnticket", json={"sn": sn, "model_id": model_id})
        return reply["sn_ticket"]

    def send(
        self,
        to_openid_list: list[str],
        template_id: str,
        model_id: str,
        sn: str,
        data: dict[str, str],
        *,
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str | None = None,
    ) -> None:
        """`POST /cgi-bin/message/device/subscribe/send`; WeChat answers no msgid (§11c).

        The device type goes as both `modelId` and `model_id`: the doc and WxJava spell it
        one way, WeChat's server is reported to read the other (docs/wechat.md §11c).
        Not idempotent: a time-out after sending raises DeliveryUnknown, never a repeat.
        Raises UserRefused (43101), DeviceNotSubscribed (9800006), RequestRejected (40037,
        41030, 47003, 47001), QuotaExceeded.
        """
        body: dict[str, Any] = {
            "to_openid_list": list(to_openid_list),
            "template_id": template_id,
            "modelId": model_id,
            "model_id": model_id,
            "sn": sn,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        for name, value in (("page", page), ("miniprogram_state", miniprogram_state), ("lang", lang)):
            if value:
                body[name] = value
        self._client.call(
            "device_subscribe_send", "POST", "/cgi-bin/message/device/subscribe/send", json=body, idempotent=False
        )
