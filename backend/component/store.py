"""What a third-party platform keeps in the database: its last ticket and its merchants' refresh tokens.

Both are read and written by the token chain (backend/wechat/component.py) while it fetches a
token, outside any request's transaction, so they use connections of their own, as the token
store does (backend/infra/token_storage.py). The database holds the only durable copy of every
refresh token, sealed with DATA_KEY; Redis never holds one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backend.infra.data_keys import DataKeys
from backend.models import AuthorizedApp, ComponentTicket, utcnow
from backend.wechat.errors import WeChatError

log = logging.getLogger(__name__)

RECOVER_EVERY = timedelta(minutes=10)  # 61023: the authorizer list is read at most this often per app
_tickets = ComponentTicket.__table__
_apps = AuthorizedApp.__table__


class AppState:
    AUTHORIZED = "authorized"
    FROZEN = "frozen"


class TicketBook:
    """The platform's last `component_verify_ticket`, kept until a newer one arrives."""

    def __init__(self, engine: Engine, component_appid: str) -> None:
        self.engine, self.component_appid = engine, component_appid

    def current(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(_tickets.c.ticket, _tickets.c.bad_since).where(
                    _tickets.c.component_appid == self.component_appid
                )
            ).first()
        return row.ticket if row is not None and row.bad_since is None else None

    def received(self) -> tuple[str | None, object, object]:
        """(ticket or None, received_at, bad_since), for `wx doctor` and the dashboard."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_tickets).where(_tickets.c.component_appid == self.component_appid)).first()
        return (row.ticket, row.received_at, row.bad_since) if row is not None else (None, None, None)

    def save(self, ticket: str) -> None:
        """A pushed ticket replaces the last one (and clears a refusal: it is a new ticket)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(_tickets)
                .where(_tickets.c.component_appid == self.component_appid)
                .values(ticket=ticket, received_at=utcnow(), bad_since=None)
            ).rowcount
            if not changed:
                conn.execute(
                    sa.insert(_tickets).values(
                        component_appid=self.component_appid, ticket=ticket, received_at=utcnow(), bad_since=None
                    )
                )

    def mark_bad(self, ticket: str) -> None:
        """WeChat refused `ticket` (61005/61006): no new component token until a newer one arrives."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(_tickets)
                .where(_tickets.c.component_appid == self.component_appid, _tickets.c.ticket == ticket)
                .values(bad_since=utcnow())
            )


class RefreshTokens:
    """Each merchant app's refresh token, sealed; `recover` reads the authorizer list (61023)."""

    def __init__(self, engine: Engine, keys: DataKeys, component=None) -> None:  # component: ComponentClient
        self.engine, self.keys, self.component = engine, keys, component

    def read(self, appid: str) -> str | None:
        with self.engine.connect() as conn:
            sealed = conn.scalar(sa.select(_apps.c.refresh_token).where(_apps.c.appid == appid))
        return self.keys.open(sealed) if sealed else None

    def save(self, appid: str, refresh_token: str) -> None:
        """The rotated refresh token, every time WeChat hands one back."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(_apps)
                .where(_apps.c.appid == appid)
                .values(refresh_token=self.keys.seal(refresh_token), refresh_token_lost_at=None, updated_at=utcnow())
            )

    def recover(self, appid: str) -> str | None:
        """61023: the app's current refresh token from `api_get_authorizer_list`, at most once per 10 minutes
        per app (claimed in the row, so that every process together calls it once). None: recovered too
        recently, or the app is not listed. A list call that fails transiently raises (503), marking nothing."""
        now = utcnow()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                sa.update(_apps)
                .where(
                    _apps.c.appid == appid,
                    sa.or_(_apps.c.recovered_at.is_(None), _apps.c.recovered_at < now - RECOVER_EVERY),
                )
                .values(recovered_at=now)
            ).rowcount
        if not claimed:
            return None
        try:
            listed = self.component.authorizer_list().get(appid)
        except WeChatError:  # transient (or 61004): nothing is marked, and the next refresh may try again
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(_apps)
                    .where(_apps.c.appid == appid, _apps.c.recovered_at == now)
                    .values(recovered_at=None)
                )
            raise
        if listed is not None:
            self.save(appid, listed)
            log.warning("refresh token recovered from the authorizer list", extra={"appid": appid})
        return listed

    def lost(self, appid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(_apps).where(_apps.c.appid == appid).values(refresh_token_lost_at=utcnow()))
        log.error("refresh token lost: run wx component recover", extra={"appid": appid})

    def recover_all(self) -> tuple[list[str], list[str]]:
        """`wx component recover`: every stored app's refresh token from the list, whatever the last attempt.
        Returns (recovered appids, appids stored here but not listed by WeChat)."""
        listed = self.component.authorizer_list()
        with self.engine.connect() as conn:
            stored = [row.appid for row in conn.execute(sa.select(_apps.c.appid))]
        for appid in stored:
            if appid in listed:
                self.save(appid, listed[appid])
        return sorted(set(stored) & set(listed)), sorted(set(stored) - set(listed))
