"""`flask --app wsgi wx doctor`: is this deployment, seen from the machine it runs on, ready to send?

One finding per check: `ok`, `warn` (a recommendation; the deployment works), `FAIL` (what
to do) or `skip` (a check that needs an earlier one that failed). A finding never carries a
secret: no AppSecret, token, key, password or URL that may hold one (backend/settings.py
marks them).

The lines are in the machine's language: Simplified Chinese when LC_ALL, LC_MESSAGES or LANG
names it (`LANG=zh_CN.UTF-8`), else English. The status words and the setting names stay as
they are, for grep; each check's name and what it says come from backend/i18n/cli_zh_cn.py.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import redis
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from backend import errors, i18n
from backend.component.merchants import STATE_WORDS
from backend.errors import DATABASE_ERRORS, database_first_line
from backend.extensions import db
from backend.models import Message, Subscription, Template
from backend.ops import quota
from backend.ops.retention import IDEMPOTENCY_DAYS, retention_in_force
from backend.ops.texts import Text
from backend.states import MessageStatus
from backend.webhooks.runner import loggable_url
from backend.webhooks.targets import targets
from backend.wechat.errors import PlatformIPRefused, WeChatAPIError, WeChatError

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
SHOWN_IDS = 5  # template ids named in one line

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


UPGRADE = Text("run flask --app wsgi db upgrade")


@dataclass(frozen=True)
class Finding:
    status: str
    check: str  # its English name
    detail: tuple[Text, ...] = ()  # joined by "; "
    appid: str | None = None  # with several apps, the app a check is about

    def line(self, language: str | None = None) -> str:
        """The finding in `language`, by default the machine's (LANG)."""
        language = language or i18n.language_of_environment()
        check = i18n.translate(self.check, language, catalogues=i18n.CLI_CATALOGUES).text
        check += f" ({self.appid})" if self.appid else ""
        detail = "; ".join(text.say(language) for text in self.detail)
        return f"{self.status:4} {check}" + (f": {detail}" if detail else "")


def finding(status: str, check: str, *detail: Text, appid: str | None = None) -> Finding:
    return Finding(status, check, detail, appid)


def run_checks(app: Flask) -> Iterator[Finding]:
    """Every check in order, within an app context."""
    yield check_configuration(app)
    yield check_apps(app)
    yield check_webhooks(app)
    yield check_retention(app)
    yield check_erasure_log(app)
    reachable, migrated = check_database(app)
    yield reachable
    yield migrated
    redis_found = check_redis(app)
    yield redis_found
    yield check_wechat_reachable(app)
    schema = migrated.status == OK
    # The shared token store is Redis when REDIS_URL is set, else the database.
    store_ok = redis_found.status == OK if app.config["REDIS_URL"] else schema
    for wx_app in app.extensions["apps"].configured():  # a platform's merchant apps: check_platform
        appid = _per_app(app, wx_app)
        yield (
            check_access_token(app, wx_app, appid)
            if store_ok
            else finding(SKIP, "access token", Text("needs its store (see above)"), appid=appid)
        )
    for wx_app in app.extensions["apps"]:
        appid = _per_app(app, wx_app)
        yield (
            check_send_quota(wx_app, appid)
            if store_ok and schema
            else finding(SKIP, "send quota", Text("needs the database, migrated"), appid=appid)
        )
    migrated_first = Text("needs the database, migrated")
    yield check_templates() if schema else finding(SKIP, "templates synced", migrated_first)
    for wx_app in app.extensions["apps"].configured():
        yield check_push(app, wx_app)
    if app.extensions["apps"].platform is not None:
        yield from check_platform(app, schema)
    yield check_unknown_messages() if schema else finding(SKIP, "unknown messages", migrated_first)


def check_configuration(app: Flask) -> Finding:
    """The app loaded, so every setting is valid (a wrong one stops every command with one line)."""
    remarks = []
    if app.config["DEV_MODE"]:
        base = app.config["WX_API_BASE"]
        remarks.append(Text("dev mode (WX_APPID and WX_SECRET unset): the backend talks to {base}", base=base))
    if not app.config["BUSINESS_API_KEYS"]:
        remarks.append(Text("no BUSINESS_API_KEYS: business callers cannot send"))
    if not app.config["DEV_MODE"] and not app.config["DEVICE_BINDING_REQUIRED"]:
        # WeChat pushes nothing for device popups: without bindings, any report is believed.
        remarks.append(Text("DEVICE_BINDING_REQUIRED is off: anyone logged in may follow any device"))
    return finding(WARN if remarks else OK, "configuration", *remarks)


def _per_app(app: Flask, wx_app) -> str | None:
    """The app's id for a check's name when several apps are configured."""
    # The configured apps only: a platform's merchants are read from a database that may not be migrated yet.
    return wx_app.appid if len(app.extensions["apps"].configured()) > 1 else None


def check_apps(app: Flask) -> Finding:
    """Which apps are served; with WX_APPS_FILE, that its secrets are not readable by other users."""
    apps = app.extensions["apps"].configured()
    if not apps:  # a platform serving only its merchants' apps
        return finding(OK, "apps", Text("none configured: only a third-party platform's merchant apps"))
    names = ", ".join(
        f"{wx_app.appid} {wx_app.name}" if wx_app.name != wx_app.appid else wx_app.appid for wx_app in apps
    )
    path = app.config.get("WX_APPS_FILE")
    if not path:
        return finding(OK, "apps", Text("one, from WX_APPID: {names}", names=names))
    detail = Text("{count} from WX_APPS_FILE {path}: {names}", count=len(apps), path=path, names=names)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:  # it was read at start-up; it may have gone since
        return finding(WARN, "apps", detail, Text("the file can no longer be read ({error})", error=exc.strerror))
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        readable = Text("it holds AppSecrets and keys, yet other users may read it: chmod 600 it")
        return finding(WARN, "apps", detail, readable)
    return finding(OK, "apps", detail)


def check_webhooks(app: Flask) -> Finding:
    """Where each app's events go: its own webhook_url, WEBHOOK_URL, or nowhere (no event written).
    A URL is shown without its query string or user info (they may hold a token)."""
    receivers = targets(app)
    if not any(receivers.values()):
        return finding(
            OK, "webhooks", Text("not configured (no WEBHOOK_URL, no webhook_url in WX_APPS_FILE): no events")
        )

    def where(receiver) -> Text:
        if receiver is None:
            return Text("none, no events written")
        if receiver.own:
            return Text("{url} (its own webhook_url)", url=loggable_url(receiver.url))
        return Text("{url} (WEBHOOK_URL)", url=loggable_url(receiver.url))

    if len(receivers) == 1:
        return finding(OK, "webhooks", Text("to {where}", where=where(next(iter(receivers.values())))))
    return finding(
        OK, "webhooks", *(Text("{appid} to {where}", appid=appid, where=where(r)) for appid, r in receivers.items())
    )


def check_retention(app: Flask) -> Finding:
    """The retention in force (the storage period the mini program's privacy guide declares)."""
    parts = []
    for setting, days in retention_in_force(app.config, app.extensions["apps"]).items():
        own = ", ".join(f"{appid} {value}" for appid, value in days.items() if appid != "*")
        if own:
            parts.append(
                Text("{setting} {days} days (apps of their own: {own})", setting=setting, days=days["*"], own=own)
            )
        else:
            parts.append(Text("{setting} {days} days", setting=setting, days=days["*"]))
    parts.append(Text("idempotency records {days} days", days=IDEMPOTENCY_DAYS))
    return finding(OK, "retention", *parts)


def check_erasure_log(app: Flask) -> Finding:
    """The erasure log can be appended to: while it can't, every erase answers 503 (privacy/erasure.py)."""
    path = os.path.join(app.instance_path, app.config["ERASURE_LOG"])
    folder = os.path.dirname(path) or "."
    existing = path if os.path.exists(path) else folder
    if os.path.isdir(folder) and os.access(existing, os.W_OK):
        return finding(OK, "erasure log", Text("{path}", path=path))
    if not os.path.exists(folder):
        parent = os.path.dirname(folder) or "."
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            return finding(OK, "erasure log", Text("{path} (made at the first erase)", path=path))
    return finding(FAIL, "erasure log", Text("{path} can't be written: erases answer 503 (ERASURE_LOG)", path=path))


def check_database(app: Flask) -> tuple[Finding, Finding]:
    """Reachable, and migrated to the head revision of migrations/versions."""
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except DATABASE_ERRORS as exc:
        problem = Text("cannot use the database: {error}", error=database_first_line(exc))
        advice = Text("{problem}: check DATABASE_URL and that the server is running", problem=problem)
        return (
            finding(FAIL, "database reachable", advice),
            finding(SKIP, "database migrated", Text("needs the database")),
        )
    heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
    reachable = finding(OK, "database reachable", Text("{dialect}", dialect=db.engine.dialect.name))
    if current == heads:
        return reachable, finding(OK, "database migrated", Text("at {heads}", heads=", ".join(sorted(heads))))
    if not current:
        return reachable, finding(FAIL, "database migrated", Text("no schema yet: {upgrade}", upgrade=UPGRADE))
    at, needed = ", ".join(sorted(current)), ", ".join(sorted(heads))
    behind = Text("at {at}, the code needs {needed}: {upgrade}", at=at, needed=needed, upgrade=UPGRADE)
    return reachable, finding(FAIL, "database migrated", behind)


def check_redis(app: Flask) -> Finding:
    url = app.config["REDIS_URL"]
    if not url:
        alone = Text("not configured (one machine: tokens in the database, batches in-process)")
        return finding(OK, "redis", alone)
    try:
        timeout = app.config["REDIS_TIMEOUT"]
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except redis.RedisError as exc:  # its text names host and port, never the password
        silent = Text("REDIS_URL does not answer ({error}): start Redis or fix REDIS_URL", error=exc)
        return finding(FAIL, "redis", silent)
    return finding(OK, "redis")


def check_wechat_reachable(app: Flask) -> Finding:
    registry = app.extensions["apps"]
    # Every client (an app's, the platform's) calls the same WX_API_BASE.
    client = registry.configured()[0].client if registry.configured() else registry.platform.component.client
    try:
        client.probe()
    except WeChatError as exc:
        advice = Text(
            "{error}: allow outbound HTTPS to it (firewall; a proxy: HTTPS_PROXY) or fix WX_API_BASE", error=exc
        )
        return finding(FAIL, "WeChat reachable", advice)
    return finding(OK, "WeChat reachable", Text("{base}", base=client.api_base))


def check_access_token(app: Flask, wx_app, appid: str | None = None) -> Finding:
    """A token of `wx_app` fetched from WeChat now, from this machine (the IP whitelist applies to it)."""
    check = "access token"
    try:
        wx_app.client.tokens.refresh()
    except WeChatAPIError as exc:
        advice = TOKEN_ADVICE.get(exc.errcode or 0)
        if advice is None:
            answer = Text("WeChat answered errcode {errcode} ({errmsg})", errcode=exc.errcode, errmsg=exc.errmsg)
            return finding(FAIL, check, answer, appid=appid)
        ip = _IP.search(exc.errmsg)
        advice_text = Text(advice, ip=f" {ip[1]}" if ip else "")
        return finding(
            FAIL, check, Text("errcode {errcode}: {advice}", errcode=exc.errcode, advice=advice_text), appid=appid
        )
    except WeChatError as exc:
        return finding(FAIL, check, Text("{error}", error=exc), appid=appid)
    except (redis.RedisError, sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        store = "Redis" if app.config["REDIS_URL"] else Text("the database")
        failed = Text("the shared token store ({store}) failed: {error}", store=store, error=type(exc).__name__)
        return finding(FAIL, check, failed, appid=appid)
    return finding(OK, check, Text("obtainable ({token_api})", token_api=wx_app.client.token_api), appid=appid)


def check_send_quota(wx_app, appid: str | None = None) -> Finding:
    """WeChat's quota of subscribe/send left today (getApiQuota, read at most every 10 minutes):
    a warning under 10 %, since past it every send fails with 45009 until midnight (Beijing)."""
    check = "send quota"
    try:
        left = quota.current(wx_app)
    except errors.ApiError:
        return finding(WARN, check, Text("WeChat did not tell (getApiQuota failed)"), appid=appid)
    figures = Text("{remain} of {daily_limit} left today", remain=left.remain, daily_limit=left.daily_limit)
    if left.low:
        advice = Text("under 10 %: once it is spent every send fails with 45009 until midnight, Beijing time")
        return finding(WARN, check, figures, advice, appid=appid)
    return finding(OK, check, figures, appid=appid)


TICKET_STALE = 20 * 60  # seconds: WeChat pushes one every 10 minutes
PLATFORM_CHECKS = ("platform ticket", "platform token", "merchant apps")  # with WX_COMPONENT_* only


def check_platform(app: Flask, schema: bool) -> Iterator[Finding]:
    """A third-party platform: its ticket, a component token fetched from this machine now (the
    platform's IP whitelist applies: 61004), and its merchant apps (refresh tokens lost, states)."""
    platform = app.extensions["apps"].platform
    if not schema:
        for check in PLATFORM_CHECKS:
            yield finding(SKIP, check, Text("needs the database, migrated"))
        return
    ticket, received_at, bad_since = platform.tickets.received()
    if ticket is None:
        yield finding(
            FAIL, "platform ticket", Text("none yet: check that WeChat reaches {url}", url="/wechat/component/auth")
        )
    elif bad_since is not None:
        yield finding(FAIL, "platform ticket", Text("refused by WeChat (61005/61006): a new push was asked for"))
    else:
        age = int((datetime.now(UTC) - _utc(received_at)).total_seconds())
        status = WARN if age > TICKET_STALE else OK
        yield finding(status, "platform ticket", Text("received {seconds} s ago", seconds=age))
    try:
        platform.component.client.tokens.refresh()
        yield finding(OK, "platform token", Text("obtainable"))
    except PlatformIPRefused:  # 61004
        yield finding(FAIL, "platform token", Text("errcode 61004: add this machine's IP to the platform's whitelist"))
    except WeChatError as exc:
        yield finding(FAIL, "platform token", Text("{error}", error=exc))
    apps = platform.all()
    lost = platform.lost_refresh_tokens()
    counts = {word: sum(1 for merchant in apps if merchant.state_word == word) for word in STATE_WORDS}
    summary = Text(
        "{authorized} authorized, {frozen} frozen, {no_set_18} without set 18",
        authorized=counts["authorized"],
        frozen=counts["frozen"],
        no_set_18=counts["no set 18"],
    )
    if lost:
        lost_text = Text(
            "refresh token lost for {appids}: run flask --app wsgi wx component recover", appids=", ".join(lost)
        )
        yield finding(FAIL, "merchant apps", summary, lost_text)
    else:
        yield finding(OK, "merchant apps", summary)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


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
        unconfirmed = Text(
            "{count} in use but never confirmed by WeChat ({shown}): run flask --app wsgi wx templates sync "
            "(an id that stays unconfirmed is not among the account's templates)",
            count=len(unsynced),
            shown=shown,
        )
        return finding(FAIL, "templates synced", unconfirmed)
    return finding(OK, "templates synced", Text("{count} in use", count=in_use) if in_use else Text("none in use yet"))


def check_push(app: Flask, wx_app) -> Finding:
    token, aes_key = wx_app.push_token, wx_app.encoding_aes_key
    several = len(app.extensions["apps"].configured()) > 1
    check, appid = "push configured", _per_app(app, wx_app)
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
    names = {"token_name": token_name, "key_name": key_name, "url": url}
    if token and aes_key:
        return finding(OK, check, Text("Token and EncodingAESKey (safe mode) at {url}", **names), appid=appid)
    if token:
        plaintext = Text(
            "plaintext mode (no {key_name}), whose signature does not cover the body: set an EncodingAESKey "
            "and choose safe mode (开发管理 → 消息推送)",
            **names,
        )
        return finding(WARN, check, plaintext, appid=appid)
    if aes_key:
        return finding(
            WARN, check, Text("{key_name} is set without {token_name}: {url} answers 404", **names), appid=appid
        )
    unset = Text(
        "no {token_name}: credits rest on the mini program's reports; set the push URL ({url}), Token and "
        "EncodingAESKey (开发管理 → 消息推送, safe mode) and {token_name}, {key_name}",
        **names,
    )
    return finding(WARN, check, unset, appid=appid)


def check_unknown_messages() -> Finding:
    try:
        count = db.session.scalar(sa.select(sa.func.count()).where(Message.status == MessageStatus.UNKNOWN))
    finally:
        db.session.remove()
    if count:
        doubt = Text("{count} may or may not have reached their users: see flask --app wsgi wx unknown", count=count)
        return finding(WARN, "unknown messages", doubt)
    return finding(OK, "unknown messages", Text("none"))
