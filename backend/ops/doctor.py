"""`flask --app wsgi wx doctor`: is this deployment, seen from the machine it runs on, ready to send?

One finding per check: `ok`, `warn` (a recommendation; the deployment works), `FAIL` (what
to do) or `skip` (a check that needs an earlier one that failed). A finding never carries a
secret: no AppSecret, token, key, password or URL that may hold one (backend/settings.py
marks them).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import redis
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from backend.errors import DATABASE_ERRORS, describe_database_error
from backend.extensions import db
from backend.models import Message, Subscription, Template
from backend.states import MessageStatus
from backend.webhooks.runner import loggable_url
from backend.webhooks.targets import targets
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
    yield check_apps(app)
    yield check_webhooks(app)
    reachable, migrated = check_database(app)
    yield reachable
    yield migrated
    redis_found = check_redis(app)
    yield redis_found
    yield check_wechat_reachable(app)
    schema = migrated.status == OK
    # The shared token store is Redis when REDIS_URL is set, else the database.
    store_ok = redis_found.status == OK if app.config["REDIS_URL"] else schema
    for wx_app in app.extensions["apps"]:
        label = _per_app("access token", app, wx_app)
        yield (
            check_access_token(app, wx_app, label) if store_ok else Finding(SKIP, label, "needs its store (see above)")
        )
    yield check_templates() if schema else Finding(SKIP, "templates synced", "needs the database, migrated")
    for wx_app in app.extensions["apps"]:
        yield check_push(app, wx_app)
    yield check_unknown_messages() if schema else Finding(SKIP, "unknown messages", "needs the database, migrated")


def check_configuration(app: Flask) -> Finding:
    """The app loaded, so every setting is valid (a wrong one stops every command with one line)."""
    remarks = []
    if app.config["DEV_MODE"]:
        remarks.append(f"dev mode (WX_APPID and WX_SECRET unset): the backend talks to {app.config['WX_API_BASE']}")
    if not app.config["BUSINESS_API_KEYS"]:
        remarks.append("no BUSINESS_API_KEYS: business callers cannot send")
    return Finding(WARN if remarks else OK, "configuration", "; ".join(remarks))


def _per_app(check: str, app: Flask, wx_app) -> str:
    """The check's name, with the app's id when several apps are configured."""
    return f"{check} ({wx_app.appid})" if len(app.extensions["apps"]) > 1 else check


def check_apps(app: Flask) -> Finding:
    """Which apps are served; with WX_APPS_FILE, that its secrets are not readable by other users."""
    apps = list(app.extensions["apps"])
    names = ", ".join(
        f"{wx_app.appid} {wx_app.name}" if wx_app.name != wx_app.appid else wx_app.appid for wx_app in apps
    )
    path = app.config.get("WX_APPS_FILE")
    if not path:
        return Finding(OK, "apps", f"one, from WX_APPID: {names}")
    detail = f"{len(apps)} from WX_APPS_FILE {path}: {names}"
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:  # it was read at start-up; it may have gone since
        return Finding(WARN, "apps", f"{detail}; the file can no longer be read ({exc.strerror})")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Finding(
            WARN, "apps", f"{detail}; it holds AppSecrets and keys, yet other users may read it: chmod 600 it"
        )
    return Finding(OK, "apps", detail)


def check_webhooks(app: Flask) -> Finding:
    """Where each app's events go: its own webhook_url, WEBHOOK_URL, or nowhere (no event written).
    A URL is shown without its query string or user info (they may hold a token)."""
    receivers = targets(app)
    if not any(receivers.values()):
        return Finding(OK, "webhooks", "not configured (no WEBHOOK_URL, no webhook_url in WX_APPS_FILE): no events")

    def where(receiver) -> str:
        if receiver is None:
            return "none, no events written"
        return f"{loggable_url(receiver.url)} ({'its own webhook_url' if receiver.own else 'WEBHOOK_URL'})"

    if len(receivers) == 1:
        return Finding(OK, "webhooks", f"to {where(next(iter(receivers.values())))}")
    return Finding(OK, "webhooks", "; ".join(f"{appid} to {where(receiver)}" for appid, receiver in receivers.items()))


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
    client = next(iter(app.extensions["apps"])).client  # every app's client calls the same WX_API_BASE
    try:
        client.probe()
    except WeChatError as exc:
        advice = "allow outbound HTTPS to it (firewall; a proxy: HTTPS_PROXY) or fix WX_API_BASE"
        return Finding(FAIL, "WeChat reachable", f"{exc}: {advice}")
    return Finding(OK, "WeChat reachable", client.api_base)


def check_access_token(app: Flask, wx_app, label: str = "access token") -> Finding:
    """A token of `wx_app` fetched from WeChat now, from this machine (the IP whitelist applies to it)."""
    try:
        wx_app.client.tokens.refresh()
    except WeChatAPIError as exc:
        advice = TOKEN_ADVICE.get(exc.errcode or 0)
        if advice is None:
            return Finding(FAIL, label, f"WeChat answered errcode {exc.errcode} ({exc.errmsg})")
        ip = _IP.search(exc.errmsg)
        return Finding(FAIL, label, f"errcode {exc.errcode}: " + advice.format(ip=f" {ip[1]}" if ip else ""))
    except WeChatError as exc:
        return Finding(FAIL, label, f"{exc}")
    except (redis.RedisError, sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        store = "Redis" if app.config["REDIS_URL"] else "the database"
        return Finding(FAIL, label, f"the shared token store ({store}) failed: {type(exc).__name__}")
    return Finding(OK, label, f"obtainable ({wx_app.client.token_api})")


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


def check_push(app: Flask, wx_app) -> Finding:
    token, aes_key = wx_app.push_token, wx_app.encoding_aes_key
    several = len(app.extensions["apps"]) > 1
    check = _per_app("push configured", app, wx_app)
    # Where each setting lives: the app's entry in WX_APPS_FILE, or the WX_* variables.
    token_name, key_name = (
        ("token", "encoding_aes_key")
        if app.config.get("WX_APPS_FILE")
        else (
            "WX_TOKEN",
            "WX_ENCODING_AES_KEY",
        )
    )
    url = f"/wechat/push/{wx_app.appid}" if several else "/wechat/push"
    if token and aes_key:
        return Finding(OK, check, f"Token and EncodingAESKey (safe mode) at {url}")
    if token:
        return Finding(
            WARN,
            check,
            f"plaintext mode (no {key_name}), whose signature does not cover the body: set an EncodingAESKey "
            "and choose safe mode (开发管理 → 消息推送)",
        )
    if aes_key:
        return Finding(WARN, check, f"{key_name} is set without {token_name}: {url} answers 404")
    return Finding(
        WARN,
        check,
        f"no {token_name}: credits rest on the mini program's reports; set the push URL ({url}), Token and "
        f"EncodingAESKey (开发管理 → 消息推送, safe mode) and {token_name}, {key_name}",
    )


def check_unknown_messages() -> Finding:
    try:
        count = db.session.scalar(sa.select(sa.func.count()).where(Message.status == MessageStatus.UNKNOWN))
    finally:
        db.session.remove()
    if count:
        return Finding(
            WARN,
            "unknown messages",
            f"{count} may or may not have reached their users: see flask --app wsgi wx unknown",
        )
    return Finding(OK, "unknown messages", "none")
