"""The one WeChat server-API client: a pooled session, time-outs, retries, tokens, errcodes.

Each API area is a small object on the client (`client.auth`, `client.subscribe`,
`client.templates`), as wechatpy cuts it; they all go through `WeChatClient.call`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from backend.wechat.errors import (
    AccessTokenError,
    DeliveryUnknown,
    SystemBusy,
    WeChatAPIError,
    WeChatUnreachable,
    errcode_error,
    redact,
)
from backend.wechat.tokens import TOKEN_SOURCES, TokenManager, TokenSource, TokenStore

log = logging.getLogger("backend.wechat")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left (safe to retry)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _reason(exc: requests.RequestException) -> str:
    """`[Errno 111] Connection refused` out of requests' long message, else the exception's name."""
    match = re.search(r"\[Errno [^\]]*\][^'\")]*", str(exc))
    return match.group(0).strip() if match else type(exc).__name__


class WeChatClient:
    """Calls WeChat's server API with one shared token and bounded, safe retries.

    `idempotent=False` marks a call that changes state at WeChat (a send): it is retried
    only when it surely did not arrive (connection refused, connect time-out) or when
    WeChat answered `-1` (its "busy, retry later"); a time-out or HTTP error after the
    request left raises `DeliveryUnknown` instead of repeating it.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base: str = "https://api.weixin.qq.com",
        token_store: TokenStore,
        token_api: str = "stable",
        token_source: TokenSource | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        max_attempts: int = 3,
        backoff: float = 0.2,
        pool_size: int = 64,
        before_call: Callable[[], None] | None = None,
        on_call: Callable[[str, float, str], None] | None = None,
        on_token_refresh: Callable[[str], None] | None = None,
        token_param: str = "access_token",
        component: Any = None,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        # The app's token source: stable_token or cgi-bin/token from the AppSecret, unless given.
        self.token_source = token_source or TOKEN_SOURCES[token_api](appid, secret)
        self.token_api = self.token_source.api
        self.before_call = before_call
        self.on_call = on_call
        self.on_token_refresh = on_token_refresh
        self.token_param = token_param  # the component's own calls take `component_access_token`
        # A merchant app of a third-party platform (a ComponentClient): log-in goes through the
        # platform, and the platform's errcodes (61003, 61004, 61007) become its errors.
        self.component = component
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Proxy settings (HTTPS_PROXY, NO_PROXY) are read from the environment once, here:
        # requests would otherwise scan os.environ on every call.
        self.session.proxies = requests.utils.get_environ_proxies(self.api_base)
        self.session.trust_env = False
        self.tokens = TokenManager(token_store, self._fetch_token)

        from backend.wechat.auth import AuthAPI
        from backend.wechat.device import DeviceAPI
        from backend.wechat.quota import QuotaAPI
        from backend.wechat.subscribe import SubscribeAPI, TemplateAPI

        self.auth = AuthAPI(self)
        self.subscribe = SubscribeAPI(self)
        self.templates = TemplateAPI(self)
        self.device = DeviceAPI(self)
        self.quota = QuotaAPI(self)

    def __repr__(self) -> str:  # never show the secret
        return f"<WeChatClient appid={self.appid} api_base={self.api_base}>"

    # -- access tokens -------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
        """A new token from the app's token source, through this client's retries and time-outs."""
        token, expires_in = self.token_source.fetch(self._request)
        log.info("access token refreshed", extra={"api": self.token_api, "expires_in": expires_in})
        if self.on_token_refresh is not None:
            self.on_token_refresh(self.token_api)
        return token, expires_in

    def probe(self) -> int:
        """GET the API's base URL and return the HTTP status: any answer means WeChat can be reached from here."""
        try:
            return self.session.get(self.api_base + "/", timeout=self.timeout).status_code
        except requests.RequestException as exc:
            raise WeChatUnreachable(f"{self.api_base}: {_reason(exc)}", api="probe") from None

    # -- the call path -------------------------------------------------------------

    def call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        with_token: bool = True,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Call one WeChat API and return its JSON reply, or raise a `WeChatError`.

        On 40001 / 42001 / 40014 / 41001 the token is dropped (only if still current),
        refreshed once and the call retried once; a second refusal is raised as is.
        `before_call` runs first: the backend checks there that no transaction is held.
        """
        if self.before_call is not None:
            self.before_call()
        for token_attempt in (1, 2):
            query = dict(params or {})
            token = None
            if with_token:
                token = self.tokens.get()
                query[self.token_param] = token
            try:
                return self._request(api, method, path, params=query, json=json, data=data, idempotent=idempotent)
            except AccessTokenError:
                # 40001/42001 (and 40014, 41001) on an app, authorizer or component token alike:
                # compare-then-expire, one refresh.
                if token is None or token_attempt == 2:
                    raise
                log.warning("access token refused; refreshing once", extra={"api": api})
                self.tokens.invalidate(token)
            except WeChatAPIError as exc:
                if self.component is None:
                    raise
                raise self.component.translate(exc, self.appid) from None
        raise AssertionError("unreachable")

    def _request(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        url = self.api_base + path
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=params, json=json, data=data, timeout=self.timeout)
            except requests.RequestException as exc:
                self._log(api, started, attempt, error=type(exc).__name__)
                if _never_sent(exc) or (idempotent and isinstance(exc, (requests.Timeout, requests.ConnectionError))):
                    if not last:
                        self._sleep(attempt)
                        continue
                    raise WeChatUnreachable(f"{api}: {redact(str(exc))}", api=api) from None
                raise DeliveryUnknown(f"{api}: no answer after sending ({type(exc).__name__})", api=api) from None
            if response.status_code >= 500 or response.status_code in (408, 429):
                self._log(api, started, attempt, status=response.status_code)
                if not idempotent:
                    raise DeliveryUnknown(f"{api}: HTTP {response.status_code} after sending", api=api)
                if not last:
                    self._sleep(attempt)
                    continue
                raise WeChatUnreachable(f"{api}: HTTP {response.status_code}", api=api)
            try:
                reply = response.json()
            except ValueError:
                self._log(api, started, attempt, status=response.status_code)
                error = DeliveryUnknown if not idempotent else WeChatUnreachable
                raise error(f"{api}: HTTP {response.status_code} with a body that is not JSON", api=api) from None
            # A reply without errcode is a success (jscode2session answers that way).
            errcode = int(reply.get("errcode") or 0) if isinstance(reply, dict) else 0
            self._log(api, started, attempt, status=response.status_code, errcode=errcode)
            if errcode == 0:
                return reply
            error = errcode_error(api, errcode, str(reply.get("errmsg", "")))
            if isinstance(error, SystemBusy) and not last:  # -1: "system busy, retry later"
                self._sleep(attempt)
                continue
            raise error
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    def _log(self, api: str, started: float, attempt: int, **fields: Any) -> None:
        seconds = time.monotonic() - started
        log.info(
            "wechat call", extra={"api": api, "attempt": attempt, "latency_ms": round(seconds * 1000, 1), **fields}
        )
        if self.on_call is not None:
            result = fields.get("errcode", fields.get("error", f"http_{fields.get('status')}"))
            self.on_call(api, seconds, str(result))
