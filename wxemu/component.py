"""The emulated open platform (开放平台第三方平台, docs/wechat.md §14): one component and its merchants.

The component has its appid, secret, Token and EncodingAESKey. WeChat pushes it a
`component_verify_ticket` every 10 minutes (valid 12 hours) at its authorization event URL;
with a valid ticket it gets a component token, makes pre-auth codes, and trades authorization
codes and refresh tokens for authorizer tokens of the merchant apps that authorized it. An
authorizer token is an ordinary token of the merchant's `Account` (kind "authorizer"), so every
mini-program API accepts it; the component token is refused there (48001).

Every refresh hands back a new refresh token; the previous one works 5 more minutes. A revoke
(`unauthorized`) kills the app's authorizer tokens and refresh token at once; a
re-authorization kills the live authorizer token (40001) and issues a new refresh token.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import requests

from wxemu import crypto
from wxemu.errors import WxError

TICKET_LIFETIME = 12 * 3600
TICKET_EVERY = 600  # WeChat pushes a ticket every 10 minutes
PRE_AUTH_CODE_TTL = 1800
AUTH_CODE_TTL = 3600
OLD_REFRESH_GRACE = 300  # a replaced refresh token works 5 more minutes
DEFAULT_COMPONENT = {
    "appid": "wxc0000000000c0001",
    "secret": "dev-component-secret-not-for-production",
    "token": "dev-component-token",
    "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
# The platform's API names, for faults (POST /_emulator/faults {"api": ...}) and the call log.
API_NAMES = frozenset(
    {
        "api_component_token",
        "api_create_preauthcode",
        "api_query_auth",
        "api_authorizer_token",
        "api_get_authorizer_info",
        "api_get_authorizer_list",
        "api_start_push_ticket",
        "component_jscode2session",
    }
)
PERMISSION_SETS = (17, 18, 25, 30, 31, 36, 37, 40, 118)  # 18: subscribe messages and log-in; 118: devices


@dataclass
class Authorization:
    """One merchant app's grant to the component."""

    appid: str
    func_ids: list[int]
    refresh_token: str
    authorized: bool = True
    old_refresh: dict[str, float] = field(default_factory=dict)  # replaced refresh token -> dies at
    authorized_at: float = 0.0

    def info(self) -> list[dict]:
        return [{"funcscope_category": {"id": ident}} for ident in self.func_ids]


class Component:
    """The platform's side of the chain; call with the state lock held."""

    def __init__(self, world, log) -> None:
        self.world = world
        self._log = log
        self.configure(**DEFAULT_COMPONENT)

    def configure(
        self,
        appid: str,
        secret: str,
        token: str,
        encoding_aes_key: str,
        auth_url: str | None = None,
        message_url: str | None = None,
        format: str = "xml",  # noqa: A002 - the control API's word
    ) -> None:
        self.appid, self.secret, self.token, self.encoding_aes_key = appid, secret, token, encoding_aes_key
        self.auth_url, self.message_url, self.format = auth_url, message_url, format
        self.tickets: dict[str, float] = {}  # ticket -> issued at
        self.tokens: dict[str, float] = {}  # component token -> expires at
        self.pre_auth_codes: dict[str, float] = {}
        self.auth_codes: dict[str, tuple[str, float]] = {}  # code -> (appid, expires at)
        self.authorizations: dict[str, Authorization] = {}
        self.http = requests.Session()

    # --- tickets and the component token -------------------------------------------------

    def new_ticket(self) -> str:
        ticket = "ticket@@@" + secrets.token_urlsafe(60)
        self.tickets[ticket] = self.world.now()
        return ticket

    def check_secret(self, appid: object, secret: object) -> None:
        if appid != self.appid:
            raise WxError(40013)
        if secret != self.secret:
            raise WxError(40125)

    def component_token(self, ticket: object) -> tuple[str, int]:
        issued = self.tickets.get(ticket) if isinstance(ticket, str) else None
        if issued is None:
            raise WxError(61006)  # component ticket is invalid
        if self.world.now() - issued > TICKET_LIFETIME:
            raise WxError(61005)  # component ticket is expired
        value = secrets.token_urlsafe(96)
        self.tokens[value] = self.world.now() + self.world.token_ttl
        return value, self.world.token_ttl

    def check_component_token(self, value: object) -> None:
        if not value:
            raise WxError(41001)
        expires = self.tokens.get(value) if isinstance(value, str) else None
        if expires is None:
            raise WxError(40001)
        if self.world.now() >= expires:
            raise WxError(42001)

    # --- authorizations -------------------------------------------------------------------

    def new_pre_auth_code(self) -> str:
        code = "preauthcode@@@" + secrets.token_urlsafe(40)
        self.pre_auth_codes[code] = self.world.now() + PRE_AUTH_CODE_TTL
        return code

    def authorize(self, account, func_ids: list[int], pre_auth_code: str | None) -> tuple[str, str]:
        """The merchant `account` grants `func_ids`: (authorization code, the push's InfoType)."""
        if pre_auth_code is not None:
            expires = self.pre_auth_codes.pop(pre_auth_code, None)
            if expires is None or self.world.now() > expires:
                raise ValueError("unknown or expired pre_auth_code")
        existing = self.authorizations.get(account.appid)
        again = existing is not None and existing.authorized
        account.invalidate_tokens(kind="authorizer")  # a re-authorization kills the live token: 40001
        self.authorizations[account.appid] = Authorization(
            account.appid, list(func_ids), _refresh_token(), authorized_at=self.world.now()
        )
        code = "queryauthcode@@@" + secrets.token_urlsafe(40)
        self.auth_codes[code] = (account.appid, self.world.now() + AUTH_CODE_TTL)
        if self.message_url:
            account.push_through_component(self)
        return code, "updateauthorized" if again else "authorized"

    def revoke(self, account) -> None:
        grant = self.authorizations.get(account.appid)
        if grant is None or not grant.authorized:
            raise ValueError(f"{account.appid} has not authorized the component")
        grant.authorized = False
        grant.old_refresh.clear()
        account.invalidate_tokens(kind="authorizer")

    def query_auth(self, code: object) -> Authorization:
        entry = self.auth_codes.pop(code, None) if isinstance(code, str) else None
        if entry is None or self.world.now() > entry[1]:
            raise WxError(61010)  # authorization code invalid or expired
        return self.live(entry[0])

    def live(self, appid: object) -> Authorization:
        grant = self.authorizations.get(appid) if isinstance(appid, str) else None
        if grant is None or not grant.authorized:
            raise WxError(61003)  # the component is not authorized by this account
        return grant

    def refresh(self, appid: object, refresh_token: object) -> Authorization:
        """api_authorizer_token: the old refresh token must be the current one (or replaced < 5 min ago)."""
        grant = self.live(appid)
        now = self.world.now()
        if refresh_token != grant.refresh_token and self.world.now() >= grant.old_refresh.get(refresh_token, 0):
            raise WxError(61023)  # refresh_token is invalid
        grant.old_refresh = {old: dies for old, dies in grant.old_refresh.items() if dies > now}
        grant.old_refresh[grant.refresh_token] = now + OLD_REFRESH_GRACE
        grant.refresh_token = _refresh_token()
        return grant

    def replace_refresh_token(self, appid: str) -> None:
        """What a lost refresh token looks like from the platform's side: the one it holds is no longer valid."""
        grant = self.live(appid)
        grant.old_refresh.clear()
        grant.refresh_token = _refresh_token()

    # --- pushes to the authorization event URL ---------------------------------------------

    def event(self, info_type: str, **fields: str) -> dict:
        return {"AppId": self.appid, "CreateTime": str(int(self.world.now())), "InfoType": info_type, **fields}

    def push(self, message: dict) -> int | None:
        """Push `message` to the authorization event URL (encrypted, XML as WeChat does); the HTTP status."""
        if not self.auth_url:
            return None
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        inner = "<xml>" + "".join(f"<{k}><![CDATA[{escape(str(v))}]]></{k}>" for k, v in message.items()) + "</xml>"
        encrypted = crypto.encrypt(self.encoding_aes_key, self.appid, inner)
        query = {
            "signature": crypto.sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": crypto.sign(self.token, timestamp, nonce, encrypted),
        }
        body = f"<xml><AppId><![CDATA[{self.appid}]]></AppId><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        try:
            status = self.http.post(
                self.auth_url, params=query, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=10
            ).status_code
        except requests.RequestException:
            status = None
        self._log(
            api="component_push", method="POST", path=self.auth_url, event=message["InfoType"], http_status=status
        )
        return status


class TicketClock:
    """Pushes a fresh ticket every 10 minutes while an authorization event URL is configured."""

    def __init__(self, state) -> None:
        self.state = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="emulator-tickets", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(TICKET_EVERY):
            push_ticket(self.state)


def push_ticket(state) -> int | None:
    """Issue a ticket and push it (the lock is held only while issuing, not while pushing)."""
    with state.lock:
        component = state.component
        message = component.event("component_verify_ticket", ComponentVerifyTicket=component.new_ticket())
    return component.push(message)


def _refresh_token() -> str:
    return "refreshtoken@@@" + secrets.token_urlsafe(40)
