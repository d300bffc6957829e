"""Named exceptions for WeChat's answers, each carrying errcode, errmsg and rid.

`errcode_error()` maps an errcode to its class; the classes group the codes by what a
caller should do about them, not by the API that returned them.
"""

from __future__ import annotations

import re

_RID = re.compile(r"rid:\s*([0-9a-fA-F]+-[0-9a-fA-F]+-[0-9a-fA-F]+)")
_SECRETS = re.compile(r"((?:access_token|secret|js_code|appsecret)=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide access tokens and secrets that a URL inside an error text would carry."""
    return _SECRETS.sub(r"\1***", text)


class WeChatError(Exception):
    """Base: a WeChat call did not succeed."""

    def __init__(self, message: str, *, api: str = "", errcode: int | None = None, errmsg: str = "") -> None:
        super().__init__(redact(message))
        self.api = api
        self.errcode = errcode
        self.errmsg = redact(errmsg)
        match = _RID.search(errmsg)
        self.rid = match.group(1) if match else None


class WeChatAPIError(WeChatError):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, api: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}", api=api, errcode=errcode, errmsg=errmsg)


class CredentialError(WeChatAPIError):
    """AppID, AppSecret or IP whitelist is wrong (40013, 40125, 40164, 41002, 41004, 40243, ...)."""


class AccessTokenError(WeChatAPIError):
    """The access token is invalid, expired or missing (40001, 42001, 40014, 41001)."""


class CodeInvalid(WeChatAPIError):
    """A login or phone code is invalid or already used (40029, 40163)."""


class UserBlocked(WeChatAPIError):
    """The user is high-risk and may not log in (40226)."""


class UserRefused(WeChatAPIError):
    """The user refused the template, has no one-time credit left, or cancelled the device subscription (43101)."""


class RequestRejected(WeChatAPIError):
    """WeChat refused the request's content (47003 data, 40037 template, 41030 page, 40003 openid, ...)."""


class InvalidDevice(RequestRejected):
    """getsnticket refused the device (docs/wechat.md §11a): 9800001 `sn` over 128 bytes,
    9800002 illegal characters in `sn`, 9800003 the `model_id` check failed. `field` names it."""

    FIELDS = {9800001: "sn", 9800002: "sn", 9800003: "model_id"}

    @property
    def field(self) -> str:
        return self.FIELDS.get(self.errcode or 0, "sn")


class DeviceNotSubscribed(RequestRejected):
    """9800006 (docs/wechat.md §11c): the send's (model_id, sn) is not the one the user subscribed with."""


class TemplateBanned(WeChatAPIError):
    """The template, or the account's subscribe-message ability, is banned (43107): nothing was sent."""


class ConcurrentSend(WeChatAPIError):
    """Another send to the same openid was in flight (43108): nothing was sent, retry after a moment."""


class QuotaExceeded(WeChatAPIError):
    """A minute or daily quota is reached (45011, 45009)."""


class SystemBusy(WeChatAPIError):
    """WeChat's `-1 system error`: busy, retry later."""


class PlatformError(WeChatError):
    """A third-party platform's token chain can't serve the app now (docs/wechat.md §14); `appid` is the merchant's."""

    def __init__(self, message: str, *, appid: str | None = None, errcode: int | None = None, api: str = "") -> None:
        super().__init__(message, api=api, errcode=errcode)
        self.appid = appid


class AppNotAuthorized(PlatformError):
    """61003 (the merchant did not authorize, or revoked) or 61007 (permission set not granted)."""


class PlatformIPRefused(PlatformError):
    """61004: this machine's IP is not in the platform's whitelist."""


class TicketUnavailable(PlatformError):
    """No usable component_verify_ticket (none yet, or 61005 expired / 61006 invalid): wait for WeChat's push."""


class RefreshTokenLost(PlatformError):
    """61023 and the authorizer list could not replace the refresh token: `wx component recover`."""


class WeChatTransportError(WeChatError):
    """No usable answer: connection failure, time-out or HTTP error."""


class WeChatUnreachable(WeChatTransportError):
    """WeChat could not be reached, or kept failing, after bounded retries."""


class DeliveryUnknown(WeChatTransportError):
    """The request may have reached WeChat but no answer came: it must not be blindly repeated."""


_CLASSES: dict[int, type[WeChatAPIError]] = {
    -1: SystemBusy,
    40001: AccessTokenError,
    40014: AccessTokenError,
    41001: AccessTokenError,
    42001: AccessTokenError,
    40002: CredentialError,
    40013: CredentialError,
    40125: CredentialError,
    40164: CredentialError,
    40243: CredentialError,
    41002: CredentialError,
    41004: CredentialError,
    50004: CredentialError,
    50007: CredentialError,
    61024: CredentialError,
    40029: CodeInvalid,
    40163: CodeInvalid,
    41008: CodeInvalid,
    40226: UserBlocked,
    43101: UserRefused,
    43107: TemplateBanned,
    43108: ConcurrentSend,
    45168: RequestRejected,  # a value holds a word on WeChat's blacklist
    45009: QuotaExceeded,
    45011: QuotaExceeded,
    40003: RequestRejected,
    40037: RequestRejected,
    41030: RequestRejected,
    47001: RequestRejected,
    47003: RequestRejected,
    44002: RequestRejected,
    40032: RequestRejected,  # invalid openid list size (device send)
    9800001: InvalidDevice,
    9800002: InvalidDevice,
    9800003: InvalidDevice,
    9800006: DeviceNotSubscribed,
}


def errcode_error(api: str, errcode: int, errmsg: str) -> WeChatAPIError:
    """The exception for an errcode; template-management codes 2000xx are request errors."""
    cls = _CLASSES.get(errcode)
    if cls is None:
        cls = RequestRejected if 200000 <= errcode < 300000 else WeChatAPIError
    return cls(api, errcode, errmsg)
