"""One `subscribe/send` per (app, openid) in flight, across every process and machine.

WeChat refuses a send while another send to the same openid is in flight: 43108,
"并发下发消息给同一个粉丝" (docs/wechat.md §10). Two business systems notifying one user, or
a batch with several messages for one user, would otherwise lose messages to it. So every
send takes the openid's turn first and waits (bounded, SEND_LOCK_WAIT seconds) for it.

The turn is a lease with a short time-to-live (SEND_LOCK_TTL), so that a process that dies
holding one blocks that user for seconds, not for ever; it is released by the token that
took it, so a lease that ran out and passed to another sender is never released by the first.
- PostgreSQL, and SQLite without Redis: one `send_leases` row per (appid, openid), taken with a
  single conditional upsert on a connection of its own (no transaction is held across the call).
- SQLite with Redis (REDIS_URL set): `SET key token NX PX ttl`, released by a compare-and-delete
  script, the database while Redis is down.

On PostgreSQL a send's turn rides on its reserve and its settle (consent/ledger.py, `Rider`):
the lease is taken in the reserve's statement, with the credit, and given back in the settle's,
so a send runs two statements, not four (with an Idempotency-Key too: the reserve is then a
statement of the key's transaction). When the turn is not free at the reserve, the sender waits
for it as any other; a send that did not settle alone gives it back by itself.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from backend.db import autocommit, compiled
from backend.models import SendLease

log = logging.getLogger(__name__)
POLL = (0.005, 0.05)  # seconds between tries, growing from the first to the second, jittered


class OpenidBusy(Exception):
    """No turn came within SEND_LOCK_WAIT (another send kept it, or the lease store failed).

    A passing failure, raised before WeChat is called: nothing was sent.
    """


class Leases(Protocol):
    def try_take(self, name: tuple[str, str], token: str, ttl: float) -> bool: ...

    def release(self, name: tuple[str, str], token: str) -> None: ...


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisLeases:
    def __init__(self, redis_client) -> None:  # redis.Redis
        self.redis = redis_client
        self._release = redis_client.register_script(_RELEASE)

    @staticmethod
    def _key(name: tuple[str, str]) -> str:
        return f"wxsub:send-lease:{name[0]}:{name[1]}"

    def try_take(self, name: tuple[str, str], token: str, ttl: float) -> bool:
        return bool(self.redis.set(self._key(name), token, nx=True, px=int(ttl * 1000)))

    def release(self, name: tuple[str, str], token: str) -> None:
        self._release(keys=[self._key(name)], args=[token])


class DatabaseLeases:
    """Lease rows, each statement a transaction of its own on the engine's own connections (never
    the caller's session). SQLite's form: BEGIN IMMEDIATE (see backend/__init__.py), under which
    writers queue instead of failing."""

    insert = staticmethod(sqlite.insert)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        table = SendLease.__table__
        insert = self.insert(table)
        # Taken when there is no row, or when the row's lease ran out: one statement either way.
        self._take = (
            insert.values(
                appid=sa.bindparam("appid"),
                openid=sa.bindparam("openid"),
                token=sa.bindparam("token"),
                expires_at=sa.bindparam("expires_at"),
            )
            .on_conflict_do_update(
                index_elements=["appid", "openid"],
                set_={"token": insert.excluded.token, "expires_at": insert.excluded.expires_at},
                where=table.c.expires_at < sa.bindparam("now"),
            )
            .returning(table.c.token)
        )
        self._release = sa.delete(table).where(
            table.c.appid == sa.bindparam("appid"),
            table.c.openid == sa.bindparam("openid"),
            table.c.token == sa.bindparam("token"),
        )

        # An upsert: compiled once here, never in SQLAlchemy's statement cache (db/compiled.py).
        self._take_compiled = compiled.CompiledOnce(self._take)

    def try_take(self, name: tuple[str, str], token: str, ttl: float) -> bool:
        now = time.time()
        params = {"appid": name[0], "openid": name[1], "token": token, "expires_at": now + ttl, "now": now}
        with self.engine.begin() as conn:
            return self._take_compiled.run(conn, params).scalar() == token

    def release(self, name: tuple[str, str], token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._release, {"appid": name[0], "openid": name[1], "token": token})


class PostgresLeases(DatabaseLeases):
    """The same statements, compiled once and run alone in autocommit straight through psycopg
    (db/autocommit.py): one round trip each, no SQLAlchemy execution on every send."""

    insert = staticmethod(postgresql.insert)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._take_alone = autocommit.Prepared(self._take)
        self._release_alone = autocommit.Prepared(self._release)

    def try_take(self, name: tuple[str, str], token: str, ttl: float) -> bool:
        now = time.time()
        params = {"appid": name[0], "openid": name[1], "token": token, "expires_at": now + ttl, "now": now}
        taken = self._take_alone.run_alone(params)
        return taken is not None and taken[0] == token

    # The same two statements as CTEs of a send's reserve and settle (FoldedTurn), their
    # parameters prefixed `lease_` beside the ledger's.

    @staticmethod
    def take_after(spent: sa.CTE) -> sa.CTE:
        """Take the turn for the row `spent` names (a credit spent), by the same rule as `try_take`."""
        table = SendLease.__table__
        insert = postgresql.insert(table)
        take = insert.from_select(
            ["appid", "openid", "token", "expires_at"],
            sa.select(
                sa.bindparam("lease_appid", type_=table.c.appid.type),
                sa.bindparam("lease_openid", type_=table.c.openid.type),
                sa.bindparam("lease_token", type_=table.c.token.type),
                sa.bindparam("lease_expires_at", type_=table.c.expires_at.type),
            ).select_from(spent),
        )
        return (
            take.on_conflict_do_update(
                index_elements=["appid", "openid"],
                set_={"token": take.excluded.token, "expires_at": take.excluded.expires_at},
                where=table.c.expires_at < sa.bindparam("lease_now", type_=table.c.expires_at.type),
            )
            .returning(table.c.token)
            .cte("turn_taken")
        )

    @staticmethod
    def give_back_cte() -> sa.CTE:
        table = SendLease.__table__
        return (
            sa.delete(table)
            .where(
                table.c.appid == sa.bindparam("lease_appid", type_=table.c.appid.type),
                table.c.openid == sa.bindparam("lease_openid", type_=table.c.openid.type),
                table.c.token == sa.bindparam("lease_token", type_=table.c.token.type),
            )
            .returning(table.c.token)
            .cte("turn_given_back")
        )

    def release(self, name: tuple[str, str], token: str) -> None:
        self._release_alone.run_alone({"appid": name[0], "openid": name[1], "token": token})


def database_leases(engine: Engine) -> DatabaseLeases:
    """The lease store of this database, chosen once at start-up."""
    return PostgresLeases(engine) if engine.dialect.name == "postgresql" else DatabaseLeases(engine)


class RedisOrDatabaseLeases:
    """Redis through the app's link, the database while Redis is down (backend/infra/redis_link.py).

    During an outage some senders may hold a Redis lease and others a database one; the worst
    that can happen is a 43108, which is retried, and the Redis leases run out by themselves.
    """

    def __init__(self, link, engine: Engine) -> None:  # link: backend.infra.redis_link.RedisLink
        self.link = link
        self.redis = RedisLeases(link.client)
        self.database = database_leases(engine)

    def try_take(self, name: tuple[str, str], token: str, ttl: float) -> bool:
        return self.link.call(
            lambda: self.redis.try_take(name, token, ttl),
            lambda: self.database.try_take(name, token, ttl),
            "send lease",
        )

    def release(self, name: tuple[str, str], token: str) -> None:
        self.link.call(
            lambda: self.redis.release(name, token), lambda: self.database.release(name, token), "send lease"
        )


def init_app(app: Flask, engine: Engine) -> None:
    """Choose the lease store once, at start-up: PostgreSQL's rows, Redis on SQLite when REDIS_URL
    is set, else SQLite's rows.

    On PostgreSQL the turn rides on the send's two statements, so it costs no round trip of its
    own; in Redis it would cost two (take, give back) per send. On SQLite every lease row is a
    write transaction waiting for the one writer, so Redis keeps them off the database."""
    link = app.extensions.get("redis")
    if link and engine.dialect.name != "postgresql":
        app.extensions["send_leases"] = RedisOrDatabaseLeases(link, engine)
    else:
        app.extensions["send_leases"] = database_leases(engine)


class Turn:
    """One send's turn of (appid, openid): taken before WeChat is called, given back after.

    `held` once taken, by `openid_turn` or with the reserve (`rider()`); `give_back()` whatever
    the settle did not give back with the message."""

    def __init__(self, appid: str, openid: str) -> None:
        self.name, self.token, self.held = (appid, openid), secrets.token_hex(16), False
        self.leases: Leases = current_app.extensions["send_leases"]
        self.ttl = current_app.config["SEND_LOCK_TTL"]

    def rider(self) -> FoldedTurn | None:
        """The turn as a rider of the send's reserve (to take it) or settle (to give it back), where
        its leases are PostgreSQL's; None elsewhere (Redis, SQLite: taken and given back alone)."""
        return FoldedTurn(self) if isinstance(self.leases, PostgresLeases) else None

    def give_back(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self.leases.release(self.name, self.token)
        except Exception as exc:  # the send is done either way; the lease runs out by itself
            log.warning("send lease not released", extra={"error": type(exc).__name__})


class FoldedTurn:
    """A turn in the send's own statements (consent/ledger.py `Rider`), PostgreSQL leases only."""

    shape = PostgresLeases

    def __init__(self, turn: Turn) -> None:
        self.turn = turn

    on_reserve = staticmethod(PostgresLeases.take_after)
    on_settle = staticmethod(PostgresLeases.give_back_cte)

    def params(self) -> dict[str, object]:
        now = time.time()
        appid, openid = self.turn.name
        return {
            "lease_appid": appid,
            "lease_openid": openid,
            "lease_token": self.turn.token,
            "lease_expires_at": now + self.turn.ttl,
            "lease_now": now,
        }

    def reserved(self, value: object) -> None:
        self.turn.held = value == self.turn.token

    def settled(self) -> None:
        self.turn.held = False


@contextmanager
def openid_turn(appid: str, openid: str, turn: Turn | None = None) -> Iterator[None]:
    """Hold the turn of (appid, openid) for the block; OpenidBusy when it does not come in time.

    With `turn` (already held, or taken here), the block leaves it held: the caller gives it
    back, with the settle or by `turn.give_back()`."""
    config = current_app.config
    own = turn is None
    turn = turn or Turn(appid, openid)
    if not turn.held:
        _take(turn, config["SEND_LOCK_WAIT"])
    try:
        yield
    finally:
        if own:
            turn.give_back()


def _take(turn: Turn, wait: float) -> None:
    deadline = time.monotonic() + wait
    pause = POLL[0]
    try:
        while not turn.leases.try_take(turn.name, turn.token, turn.ttl):
            if time.monotonic() + pause > deadline:
                raise OpenidBusy("another send to this user is still in flight")
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, POLL[1])
    except OpenidBusy:
        raise
    except Exception as exc:  # Redis or the database is down: not sent, like a busy turn
        log.warning("send lease unavailable", extra={"error": type(exc).__name__})
        raise OpenidBusy("the send-lease store did not answer") from exc
    turn.held = True
