"""WeChat's errcodes and their wire wording (docs/wechat.md), and the error the routes raise."""

from __future__ import annotations

import secrets

# The errmsg WeChat sends for each errcode, before the trailing " rid: ...".
# The 2000xx wording is not documented anywhere; these are plain descriptions.
ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: (
        "invalid credential, access_token is invalid or not latest, could get access_token "
        "by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
    ),
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    40164: "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
    40226: "code blocked",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43101: "user refuse to accept the msg",
    43106: "not allow to add template, for punishment",
    43107: "subscribe message ability banned",  # no real wording found (docs/wechat.md §10)
    43108: "Cannot make concurrent calls to the same OpenID, please try again",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45168: "keyword in blacklist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    76021: "cgi_path not found, please check",  # getApiQuota for a path it does not count (§15)
    # Third-party platforms (docs/wechat.md §14).
    61003: "component is not authorized by this account",
    61004: "access clientip is not registered",
    61005: "component ticket is expired",
    61006: "component ticket is invalid",
    61007: "api is unauthorized to component",
    61010: "code is expired",
    61023: "refresh_token is invalid",
    # Device messages (docs/wechat.md §11): getsnticket's and the device send's own codes.
    9800001: "sn长度不能超过128字节",
    9800002: "sn包含非法字符",
    9800003: "model_id检查不通过",
    9800006: "订阅model_id和sn关系检查失败,请确认发送消息时传入的model_id和sn与订阅时传入的是否一致",
    200011: "account has been banned",
    200012: "private template count reach limit",
    200013: "template has been banned",
    200014: "invalid parameter tid",
    200016: "invalid parameter start",
    200017: "invalid parameter limit",
    200018: "missing parameter ids",
    200019: "invalid parameter ids",
    200020: "invalid parameter kidList",
    200021: "invalid parameter sceneDesc",
}


class WxError(Exception):
    """A WeChat error reply: `errcode` plus an optional detail after the standard wording."""

    def __init__(self, errcode: int, detail: str | None = None) -> None:
        super().__init__(errcode, detail)
        self.errcode = errcode
        self.detail = detail

    def body(self) -> dict:
        return {"errcode": self.errcode, "errmsg": errmsg(self.errcode, self.detail)}


def rid() -> str:
    """A request id shaped like WeChat's: `<8hex>-<8hex>-<8hex>`."""
    return "-".join(secrets.token_hex(4) for _ in range(3))


def errmsg(errcode: int, detail: str | None = None) -> str:
    """WeChat's wording for `errcode`, e.g. `argument invalid! data.thing1.value invalid rid: …`."""
    text = ERRMSG.get(errcode, f"emulated error {errcode}")
    if detail:
        text = f"{text} {detail}"
    return f"{text} rid: {rid()}"
