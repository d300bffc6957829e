"""A third-party platform's token chain (docs/wechat.md §14): ticket → component token → authorizer tokens.

- `ComponentTokenSource` trades the last `component_verify_ticket` for the component token. A
  ticket WeChat refuses (61005 expired, 61006 invalid) is marked bad, a new push is asked for
  (`api_start_push_ticket`) and `TicketUnavailable` is raised at once: the caller answers 503
  with Retry-After, never waiting inside a request for the push.
- `ComponentClient` calls the platform's APIs with the component token (`component_access_token`
  in the query, refreshed once across processes like an app token: backend/wechat/tokens.py).
- `AuthorizerTokenSource` is one merchant app's token source: `api_authorizer_token` with the
  app's refresh token, the rotated refresh token saved every time; on 61023 the refresh token is
  recovered from `api_get_authorizer_list` (the book decides how often) before it is called lost.

Nothing here touches the database: the ticket and the refresh tokens come from a `TicketBook`
and a `RefreshTokenBook` the backend hands in (backend/component/store.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from backend.wechat.errors import (
    AppNotAuthorized,
    PlatformIPRefused,
    RefreshTokenLost,
    TicketUnavailable,
    WeChatAPIError,
    WeChatError,
)
from backend.wechat.tokens import Request

if TYPE_CHECKING:
    from backend.wechat.client import WeChatClient

log = logging.getLogger("backend.wechat")

LIST_PAGE = 500  # api_get_authorizer_list's largest `count`
UNAUTHORIZED = (61003, 61007)  # 61003: not authorized (or revoked); 61007: permission set not granted


class TicketBook(Protocol):
    def current(self) -> str | None:
        """The last ticket, unless WeChat refused it since."""

    def mark_bad(self, ticket: str) -> None: ...


class RefreshTokenBook(Protocol):
    def read(self, appid: str) -> str | None: ...

    def save(self, appid: str, refresh_token: str) -> None: ...

    def recover(self, appid: str) -> str | None:
        """A refresh token from the authorizer list (None: not listed, or recovered too recently)."""

    def lost(self, appid: str) -> None: ...


def platform_error(exc: WeChatAPIError, appid: str | None = None) -> WeChatError:
    """The platform's own errcodes as the errors callers branch on; anything else unchanged."""
    if exc.errcode == 61004:  # the caller's IP is not in the platform's whitelist
        return PlatformIPRefused(str(exc), appid=appid, errcode=61004, api=exc.api)
    if exc.errcode in UNAUTHORIZED:
        return AppNotAuthorized(str(exc), appid=appid, errcode=exc.errcode, api=exc.api)
    return exc


class ComponentTokenSource:
    """`api_component_token` from the stored ticket (docs/wechat.md §14, step 2)."""

    api = "component"

    def __init__(self, appid: str, secret: str, tickets: TicketBook) -> None:
        self.appid, self._secret, self.tickets = appid, secret, tickets

    def fetch(self, request: Request) -> tuple[str, int]:
        ticket = self.tickets.current()
        if ticket is None:
            raise TicketUnavailable("no component_verify_ticket yet: WeChat pushes one every 10 minutes")
        body = {"component_appid": self.appid, "component_appsecret": self._secret, "component_verify_ticket": ticket}
        try:
            reply = request("api_component_token", "POST", "/cgi-bin/component/api_component_token", json=body)
        except WeChatAPIError as exc:
            if exc.errcode in (61005, 61006):  # 61005 ticket expired, 61006 ticket invalid
                self.tickets.mark_bad(ticket)
                self._ask_for_a_ticket(request)
                raise TicketUnavailable(f"the ticket was refused ({exc.errcode}); a new push was asked for") from None
            raise platform_error(exc) from None
        return reply["component_access_token"], int(reply["expires_in"])

    def _ask_for_a_ticket(self, request: Request) -> None:
        body = {"component_appid": self.appid, "component_secret": self._secret}
        try:
            request("api_start_push_ticket", "POST", "/cgi-bin/component/api_start_push_ticket", json=body)
        except WeChatError as exc:  # the next scheduled push comes anyway within 10 minutes
            log.warning("api_start_push_ticket failed", extra={"errcode": exc.errcode})


class ComponentClient:
    """The platform's calls under its component token (a `WeChatClient` whose token is the component's)."""

    def __init__(self, client: WeChatClient, on_unauthorized: Callable[[str, int], None] | None = None) -> None:
        self.client = client
        self.appid = client.appid
        # The backend corrects the app's state when WeChat says it is not (or no longer) authorized.
        self.on_unauthorized = on_unauthorized

    def translate(self, exc: WeChatAPIError, appid: str | None) -> WeChatError:
        """`platform_error`, telling the backend when WeChat says `appid` is not authorized (61003/61007)."""
        error = platform_error(exc, appid)
        if isinstance(error, AppNotAuthorized) and appid and self.on_unauthorized is not None:
            self.on_unauthorized(appid, exc.errcode or 61003)
        return error

    def _call(self, api: str, path: str, appid: str | None = None, **body: Any) -> dict[str, Any]:
        try:
            return self.client.call(
                api, "POST", f"/cgi-bin/component/{path}", json={"component_appid": self.appid, **body}
            )
        except WeChatAPIError as exc:
            raise self.translate(exc, appid) from None

    def create_pre_auth_code(self) -> str:
        return self._call("api_create_preauthcode", "api_create_preauthcode")["pre_auth_code"]

    def query_auth(self, authorization_code: str) -> dict[str, Any]:
        """`authorization_info`: the appid, access and refresh tokens, expires_in and func_info granted."""
        return self._call("api_query_auth", "api_query_auth", authorization_code=authorization_code)[
            "authorization_info"
        ]

    def authorizer_token(self, appid: str, refresh_token: str) -> dict[str, Any]:
        return self._call(
            "api_authorizer_token",
            "api_authorizer_token",
            appid,
            authorizer_appid=appid,
            authorizer_refresh_token=refresh_token,
        )

    def authorizer_info(self, appid: str) -> dict[str, Any]:
        return self._call("api_get_authorizer_info", "api_get_authorizer_info", appid, authorizer_appid=appid)

    def authorizer_list(self) -> dict[str, str]:
        """{appid: refresh token} of every app that has authorized the platform, page by page."""
        found: dict[str, str] = {}
        offset = 0
        while True:
            reply = self._call("api_get_authorizer_list", "api_get_authorizer_list", offset=offset, count=LIST_PAGE)
            page = reply.get("list") or []
            found.update({item["authorizer_appid"]: item["refresh_token"] for item in page})
            offset += len(page)
            if not page or offset >= int(reply.get("total_count", 0)):
                return found

    def code_to_session(self, appid: str, js_code: str) -> dict[str, Any]:
        """`/sns/component/jscode2session`: log-in for a merchant app (no secret; `js_code`, not `code`)."""
        params = {
            "appid": appid,
            "js_code": js_code,
            "grant_type": "authorization_code",
            "component_appid": self.appid,
        }
        try:  # the component token goes in as `component_access_token`, refreshed once on 40001/42001
            return self.client.call("component_jscode2session", "GET", "/sns/component/jscode2session", params=params)
        except WeChatAPIError as exc:
            raise self.translate(exc, appid) from None


class AuthorizerTokenSource:
    """One merchant app's `authorizer_access_token` (docs/wechat.md §14, step 4)."""

    api = "authorizer"

    def __init__(self, component: ComponentClient, appid: str, book: RefreshTokenBook) -> None:
        self.component, self.appid, self.book = component, appid, book

    def fetch(self, request: Request) -> tuple[str, int]:
        refresh_token = self.book.read(self.appid)
        if refresh_token is None:
            raise RefreshTokenLost("no refresh token is stored: wx component recover", appid=self.appid)
        try:
            reply = self._refresh(refresh_token)
        except WeChatAPIError as exc:
            if exc.errcode != 61023:  # anything but "refresh_token is invalid"
                raise
            # 61023: the stored refresh token is no longer valid; the authorizer list has the current one.
            recovered = self.book.recover(self.appid)
            if recovered is None:
                self.book.lost(self.appid)
                raise RefreshTokenLost(
                    "the refresh token is invalid (61023): wx component recover", appid=self.appid
                ) from None
            try:
                reply = self._refresh(recovered)
            except WeChatAPIError as again:
                if again.errcode == 61023:
                    self.book.lost(self.appid)
                    raise RefreshTokenLost(
                        "the recovered refresh token is invalid too (61023)", appid=self.appid
                    ) from None
                raise
        new_refresh = reply.get("authorizer_refresh_token")
        if new_refresh:  # saved every time: the old one works only 5 more minutes
            self.book.save(self.appid, new_refresh)
        return reply["authorizer_access_token"], int(reply["expires_in"])

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        return self.component.authorizer_token(self.appid, refresh_token)  # 61003 corrects the state on the way
