"""Where the backend keeps each app's access token: rows of its database, or Redis in front of them.

The WeChat client (backend/wechat/tokens.py) only knows the `TokenStore` protocol; the
database flavour lives here because it needs the backend's models. One entry per app
(`<token api>:<appid>`), so two apps never share or overwrite a token (docs/wechat.md §12).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from backend.models import AccessToken
from backend.wechat.tokens import CachedToken, RedisTokenStore, TokenStore


class DatabaseTokenStore:
    """The token in the `access_tokens` table, on connections of its own (never the caller's transaction)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.table = AccessToken.__table__

    def read(self) -> CachedToken | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.table.c.token, self.table.c.expires_at).where(self.table.c.name == self.name)
            ).first()
        return CachedToken(row.token, row.expires_at) if row and row.token else None

    def _ensure_row(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(self.table).values(name=self.name, expires_at=0.0, lease_until=0.0))
        except IntegrityError:
            pass  # another process created it first

    def try_lease(self, owner: str, seconds: float) -> bool:
        now = time.time()
        for attempt in range(2):
            with self.engine.begin() as conn:
                taken = conn.execute(
                    sa.update(self.table)
                    .where(self.table.c.name == self.name, self.table.c.lease_until < now)
                    .values(lease_owner=owner, lease_until=now + seconds)
                ).rowcount
            if taken or attempt:
                return bool(taken)
            self._ensure_row()
        return False

    def save(self, owner: str, token: CachedToken) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(self.table)
                .where(self.table.c.name == self.name, self.table.c.lease_owner == owner)
                .values(token=token.token, expires_at=token.expires_at, lease_owner=None, lease_until=0.0)
            )

    def release(self, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(self.table)
                .where(self.table.c.name == self.name, self.table.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0)
            )

    def expire_if(self, token: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.update(self.table)
                    .where(self.table.c.name == self.name, self.table.c.token == token)
                    .values(token=None, expires_at=0.0)
                ).rowcount
            )


def token_store(engine: Engine, name: str, redis_link=None) -> TokenStore:
    """The store for the token `name`: the database, or Redis while it answers (the database while it doesn't).

    `redis_link` (a `client` and `with_fallback(primary, fallback, use)`, backend/infra/redis_link.py).
    """
    store: TokenStore = DatabaseTokenStore(engine, name)
    if redis_link is not None:
        store = redis_link.with_fallback(RedisTokenStore(redis_link.client, name), store, "access_token")
    return store
