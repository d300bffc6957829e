"""A third-party platform and its merchants' mini programs, as apps of the registry (backend/apps.py).

`Platform` holds the component's client (its token from the last ticket) and builds one
`MerchantApp` per authorized app found in the database: a `MiniProgram` whose client takes the
app's authorizer token (refreshed with its sealed refresh token) and logs users in through the
platform. The clients are kept for the life of the process; the state of each app (authorized,
frozen, the permission sets) is re-read from its row at most every STATE_TTL seconds, and at once
in the process that changed it, so a revoke stops sends in every process within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backend.apps import ComponentSettings, MiniProgram, MiniProgramSettings
from backend.component.store import AppState, RefreshTokens, TicketBook
from backend.infra.data_keys import DataKeys
from backend.models import AuthorizedApp, utcnow
from backend.wechat import WeChatClient
from backend.wechat.component import AuthorizerTokenSource, ComponentClient, ComponentTokenSource

STATE_WORDS = ("authorized", "frozen", "no set 18")  # what `wx apps` and the dashboard show for one
STATE_TTL = 1.0  # seconds a process trusts the states it read
MESSAGES_SET = 18  # subscribe messages, phone numbers, templates and log-in (docs/wechat.md §14)
_apps = AuthorizedApp.__table__

# (appid, secret, token store name, **client options) -> a WeChatClient (backend/__init__.py)
ClientFactory = Callable[..., WeChatClient]


class MerchantApp(MiniProgram):
    """A merchant's mini program served with the platform's tokens; its pushes carry the platform's keys."""

    def __init__(self, settings: MiniProgramSettings, client: WeChatClient, platform: Platform) -> None:
        super().__init__(settings, client)
        self.platform = platform
        self.state = AppState.AUTHORIZED
        self.func_ids: tuple[int, ...] = ()

    push_appid = property(lambda self: self.platform.settings.appid)

    @property
    def state_word(self) -> str:
        """What `wx apps` and the dashboard show: authorized, frozen, or no set 18."""
        if self.state == AppState.FROZEN:
            return "frozen"
        return "authorized" if MESSAGES_SET in self.func_ids else "no set 18"

    @property
    def usable(self) -> bool:
        return self.state_word == "authorized"

    def __repr__(self) -> str:
        return f"<MerchantApp {self.appid} {self.state_word}>"


class Platform:
    """The component and the merchant apps that authorized it."""

    def __init__(
        self,
        settings: ComponentSettings,
        engine: Engine,
        keys: DataKeys,
        new_client: ClientFactory,
        miniprogram_state: str,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.new_client = new_client
        self.miniprogram_state = miniprogram_state
        self.tickets = TicketBook(engine, settings.appid)
        component_client = new_client(
            settings.appid,
            settings.secret,
            f"component:{settings.appid}",
            token_source=ComponentTokenSource(settings.appid, settings.secret, self.tickets),
            token_param="component_access_token",
        )
        self.component = ComponentClient(component_client, on_unauthorized=self.correct_state)
        self.refresh_tokens = RefreshTokens(engine, keys, self.component)
        self._apps: dict[str, MerchantApp] = {}
        # What a revoke does besides the row (messages failed, sessions voided): backend/component/events.py.
        self.on_frozen: Callable[[str], None] = self.freeze
        self._read_at = 0.0
        self._lock = threading.Lock()

    # -- the registry's view -------------------------------------------------------------

    def get(self, appid: str) -> MerchantApp | None:
        self._refresh_states()
        return self._apps.get(appid)

    def all(self) -> list[MerchantApp]:
        self._refresh_states()
        return sorted(self._apps.values(), key=lambda app: app.appid)

    def forget_states(self) -> None:
        """Re-read every state at the next look-up (this process just changed one)."""
        self._read_at = 0.0

    def _refresh_states(self) -> None:
        if time.monotonic() - self._read_at < STATE_TTL:
            return
        with self._lock:
            if time.monotonic() - self._read_at < STATE_TTL:
                return
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(_apps.c.appid, _apps.c.state, _apps.c.func_ids)).all()
            seen = set()
            for row in rows:
                app = self._apps.get(row.appid) or self._new_app(row.appid)
                app.state, app.func_ids = row.state, tuple(row.func_ids or ())
                seen.add(row.appid)
            for appid in set(self._apps) - seen:
                del self._apps[appid]
            self._read_at = time.monotonic()

    def _new_app(self, appid: str) -> MerchantApp:
        settings = MiniProgramSettings(
            appid=appid,
            secret="",
            token=self.settings.token,
            encoding_aes_key=self.settings.encoding_aes_key,
            miniprogram_state=self.miniprogram_state,
        )
        client = self.new_client(
            appid,
            "",
            f"authorizer:{appid}",
            token_source=AuthorizerTokenSource(self.component, appid, self.refresh_tokens),
            component=self.component,
        )
        app = self._apps[appid] = MerchantApp(settings, client, self)
        return app

    def lost_refresh_tokens(self) -> list[str]:
        """The apps whose refresh token WeChat refused and the authorizer list did not replace (61023)."""
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.select(_apps.c.appid).where(_apps.c.refresh_token_lost_at.is_not(None)).order_by("appid")
                )
            )

    # -- changes of state ---------------------------------------------------------------

    def save_authorization(self, info: dict[str, Any]) -> str:
        """`api_query_auth`'s `authorization_info`: the app (new, or authorized again) with its sets and
        its sealed refresh token; the access token that came with it is shared at once."""
        appid = info["authorizer_appid"]
        func_ids = sorted({int(item["funcscope_category"]["id"]) for item in info.get("func_info") or []})
        sealed = self.refresh_tokens.keys.seal(info["authorizer_refresh_token"])
        now = utcnow()
        values = {
            "state": AppState.AUTHORIZED,
            "func_ids": func_ids,
            "refresh_token": sealed,
            "refresh_token_lost_at": None,
            "authorized_at": now,
            "unauthorized_at": None,
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            if not conn.execute(sa.update(_apps).where(_apps.c.appid == appid).values(**values)).rowcount:
                conn.execute(sa.insert(_apps).values(appid=appid, created_at=now, **values))
        self.forget_states()
        app = self.get(appid)
        if app is not None and info.get("authorizer_access_token"):
            app.client.tokens.adopt(info["authorizer_access_token"], int(info.get("expires_in") or 7200))
        return appid

    def update_sets(self, appid: str, func_ids: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(_apps).where(_apps.c.appid == appid).values(func_ids=sorted(func_ids), updated_at=utcnow())
            )
        self.forget_states()

    def freeze(self, appid: str) -> bool:
        """The merchant revoked (an `unauthorized` push, or 61003): True when the app was authorized until now."""
        now = utcnow()
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(_apps)
                .where(_apps.c.appid == appid, _apps.c.state != AppState.FROZEN)
                .values(state=AppState.FROZEN, refresh_token=None, unauthorized_at=now, updated_at=now)
            ).rowcount
        self.forget_states()
        app = self._apps.get(appid)
        if app is not None:
            app.state = AppState.FROZEN
            cached = app.client.tokens.store.read()
            if cached is not None:  # its tokens died at WeChat: never hand this one out again
                app.client.tokens.invalidate(cached.token)
        return bool(changed)

    def correct_state(self, appid: str, errcode: int) -> None:
        """WeChat says the app is not authorized: 61003 (revoked) freezes it, 61007 (set not granted)
        takes set 18 off its sets."""
        if errcode == 61003:
            self.on_frozen(appid)
            return
        app = self.get(appid)
        if app is not None and MESSAGES_SET in app.func_ids:
            self.update_sets(appid, [ident for ident in app.func_ids if ident != MESSAGES_SET])
