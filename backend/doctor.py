"""`flask --app wsgi wx doctor`: is this deployment, seen from the machine it runs on, ready to send?

One finding per check: `ok`, `warn` (a recommendation; the deployment works), `FAIL` (what
to do) or `skip` (a check that needs an earlier one that failed). A finding never carries a
secret: no AppSecret, token, key, password or URL that may hold one (backend/settings.py
marks them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import redis
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from backend.errors import DATABASE_ERRORS
from backend.extensions import db
from backend.models import Message, Subscription, Template
from backend.startup import describe_database_error
from backend.wechat.errors import WeChatAPIError, WeChatError

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
SHOWN_IDS = 5  # template ids named in one line
UPGRADE = "run flask --app wsgi db upgrade"

# What to do about each errcode of the token APIs (docs/wechat.md §2).
TOKEN_ADVICE = {
    40164: "add this machine's outbound IP{ip} to the mini program's IP whitelist (开发管理 → 开发设置 → IP白名单)",
    40125: "WeChat refused the AppSecret: check WX_SECRET (or reset it in 开发管理 → 开发设置)",
    40013: "WeChat does not know the AppID: check WX_APPID",
    40243: "the AppSecret is frozen: unfreeze it in the mini program console",
    41002: "WX_APPID is empty",
    41004: "WX_SECRET is empty",
    50004: "this account may not use the token API",
    50007: "the account is frozen",
}
_IP = re.compile(r"invalid ip (\S+)")


@dataclass(frozen=True)
class Finding:
    status: str
    check: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:4} {self.check}" + (f": {self.detail}" if self.detail else "")


def run_checks(app: Flask) -> Iterator[Finding]:
    """Every check in order, within an app context."""
    yield check_configuration(app)
    reachable, migrated = check_database(app)
    yield reachable
    yield migrated
    redis_found = check_redis(app)
    yield redis_found
    yield check_wechat_reachable(app)
    schema = migrated.status == OK
    # The shared token store is Redis when REDIS_URL is set, else the database.
    store_ok = redis_found.status == OK if app.config["REDIS_URL"] else schema
    yield check_access_token(app) if store_ok else Finding(SKIP, "access token", "needs its store (see above)")
    yield check_templates() if schema else Finding(SKIP, "templates synced", "needs the database, migrated")
    yield check_push(app)
    yield check_unknown_messages() if schema else Finding(SKIP, "unknown messages", "needs the database, migrated")


def check_configuration(app: Flask) -> Finding:
    """The app loaded, so every setting is valid (a wrong one stops every command with one line)."""
    remarks = []
    if app.config["DEV_MODE"]:
        remarks.append(f"dev mode (WX_APPID and WX_SECRET unset): the backend talks to {app.config['WX_API_BASE']}")
    if not app.config["BUSINESS_API_KEYS"]:
        remarks.append("no BUSINESS_API_KEYS: business callers cannot send")
    return Finding(WARN if remarks else OK, "configuration", "; ".join(remarks))


def check_database(app: Flask) -> tuple[Finding, Finding]:
    """Reachable, and migrated to the head revision of migrations/versions."""
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except DATABASE_ERRORS as exc:
        problem = describe_database_error(exc)
        return (
            Finding(FAIL, "database reachable", f"{problem}: check DATABASE_URL and that the server is running"),
            Finding(SKIP, "database migrated", "needs the database"),
        )
    heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
    reachable = Finding(OK, "database reachable", db.engine.dialect.name)
    if current == heads:
        return reachable, Finding(OK, "database migrated", f"at {', '.join(sorted(heads))}")
    if not current:
        return reachable, Finding(FAIL, "database migrated", f"no schema yet: {UPGRADE}")
    at, needed = ", ".join(sorted(current)), ", ".join(sorted(heads))
    return reachable, Finding(FAIL, "database migrated", f"at {at}, the code needs {needed}: {UPGRADE}")


def check_redis(app: Flask) -> Finding:
    url = app.config["REDIS_URL"]
    if not url:
        return Finding(OK, "redis", "not configured (one machine: tokens in the database, batches in-process)")
    try:
        timeout = app.config["REDIS_TIMEOUT"]
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except redis.RedisError as exc:  # its text names host and port, never the password
        return Finding(FAIL, "redis", f"REDIS_URL does not answer ({exc}): start Redis or fix REDIS_URL")
    return Finding(OK, "redis")


def check_wechat_reachable(app: Flask) -> Finding:
    client = app.extensions["wechat"]
    try:
        client.probe()
    except WeChatError as exc:
        advice = "allow outbound HTTPS to it (firewall; a proxy: HTTPS_PROXY) or fix WX_API_BASE"
        return Finding(FAIL, "WeChat reachable", f"{exc}: {advice}")
    return Finding(OK, "WeChat reachable", client.api_base)


def check_access_token(app: Flask) -> Finding:
    """A token fetched from WeChat now, from this machine (the IP whitelist applies to it)."""
    try:
        app.extensions["wechat"].tokens.refresh()
    except WeChatAPIError as exc:
        advice = TOKEN_ADVICE.get(exc.errcode or 0)
        if advice is None:
            return Finding(FAIL, "access token", f"WeChat answered errcode {exc.errcode} ({exc.errmsg})")
        ip = _IP.search(exc.errmsg)
        return Finding(FAIL, "access token", f"errcode {exc.errcode}: " + advice.format(ip=f" {ip[1]}" if ip else ""))
    except WeChatError as exc:
        return Finding(FAIL, "access token", f"{exc}")
    except (redis.RedisError, sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        store = "Redis" if app.config["REDIS_URL"] else "the database"
        return Finding(FAIL, "access token", f"the shared token store ({store}) failed: {type(exc).__name__}")
    return Finding(OK, "access token", f"obtainable ({app.config['WX_TOKEN_API']})")


def check_templates() -> Finding:
    """Templates in use (a subscription or a message names them) that WeChat never confirmed."""
    used = sa.union(sa.select(Subscription.template_id), sa.select(Message.template_id)).subquery()
    confirmed = sa.select(Template.id).where(Template.id == used.c.template_id, Template.synced)
    try:
        in_use = db.session.scalar(sa.select(sa.func.count()).select_from(used))
        unsynced = db.session.scalars(
            sa.select(used.c.template_id).where(~confirmed.exists()).order_by(used.c.template_id)
        ).all()
    finally:
        db.session.remove()
    if unsynced:
        shown = ", ".join(unsynced[:SHOWN_IDS]) + (", …" if len(unsynced) > SHOWN_IDS else "")
        return Finding(
            FAIL,
            "templates synced",
            f"{len(unsynced)} in use but never confirmed by WeChat ({shown}): run flask --app wsgi wx templates sync "
            "(an id that stays unconfirmed is not among the account's templates)",
        )
    return Finding(OK, "templates synced", f"{in_use} in use" if in_use else "none in use yet")


def check_push(app: Flask) -> Finding:
    token, aes_key = app.config["WX_TOKEN"], app.config["WX_ENCODING_AES_KEY"]
    if token and aes_key:
        return Finding(OK, "push configured", "Token and EncodingAESKey (safe mode)")
    if token:
        return Finding(
            WARN,
            "push configured",
            "plaintext mode (no WX_ENCODING_AES_KEY), whose signature does not cover the body: set an EncodingAESKey "
            "and choose safe mode (开发管理 → 消息推送)",
        )
    if aes_key:
        return Finding(WARN, "push configured", "WX_ENCODING_AES_KEY is set without WX_TOKEN: /wechat/push answers 404")
    return Finding(
        WARN,
        "push configured",
        "no WX_TOKEN: credits rest on the mini program's reports; set the push URL, Token and EncodingAESKey "
        "(开发管理 → 消息推送, safe mode) and WX_TOKEN, WX_ENCODING_AES_KEY",
    )


def check_unknown_messages() -> Finding:
    try:
        count = db.session.scalar(sa.select(sa.func.count()).where(Message.status == "unknown"))
    finally:
        db.session.remove()
    if count:
        return Finding(
            WARN,
            "unknown messages",
            f"{count} may or may not have reached their users: see flask --app wsgi wx unknown",
        )
    return Finding(OK, "unknown messages", "none")
