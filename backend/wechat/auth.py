"""Log-in and phone numbers: `jscode2session` and `getuserphonenumber`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.wechat.client import WeChatClient


class AuthAPI:
    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    def code_to_session(self, js_code: str) -> dict[str, Any]:
        """`GET /sns/jscode2session`: `{"openid", "session_key"[, "unionid"]}` for a `wx.login` code.

        Raises CodeInvalid (40029, 40163), UserBlocked (40226), QuotaExceeded (45011). A merchant app of
        a third-party platform logs in through the platform's `/sns/component/jscode2session` (no secret).
        """
        if self._client.component is not None:
            return self._client.component.code_to_session(self._client.appid, js_code)
        params = {
            "appid": self._client.appid,
            "secret": self._client._secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        return self._client.call("jscode2session", "GET", "/sns/jscode2session", params=params, with_token=False)

    def get_phone_number(self, code: str, openid: str | None = None) -> dict[str, Any]:
        """`POST /wxa/business/getuserphonenumber`: the `phone_info` for a getPhoneNumber code.

        `countryCode` comes as a number or a string; it is returned as a string here.
        """
        body: dict[str, Any] = {"code": code}
        if openid:
            body["openid"] = openid
        reply = self._client.call("getuserphonenumber", "POST", "/wxa/business/getuserphonenumber", json=body)
        info = dict(reply.get("phone_info") or {})
        if info.get("countryCode") is not None:
            info["countryCode"] = str(info["countryCode"])
        return info
