"""What the platform's authorization event URL receives (docs/wechat.md §14), and what each changes.

- `component_verify_ticket`: kept until a newer one arrives (it lives 12 hours).
- `authorized` / `updateauthorized`: the authorization code is traded for the app's tokens and
  permission sets (`api_query_auth`) after the push was answered, never while WeChat waits; until
  then the app is unknown (404 `app_not_found`).
- `unauthorized`: the app is frozen at once (sends, log-ins, reports → 409 `app_unauthorized`), its
  queued and scheduled messages fail, its session tokens stop working; its users are erased after
  COMPONENT_UNAUTHORIZED_RETAIN_DAYS.

Each is counted once: a ticket saved twice is the same ticket; an authorization code is used once at
WeChat (a replay's `api_query_auth` fails and changes nothing); a second `unauthorized` finds the app
frozen already.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from backend import webhooks
from backend.component.merchants import Platform
from backend.component.store import AppState
from backend.db import work
from backend.extensions import db
from backend.models import AuthorizedApp, Message, User, utcnow
from backend.privacy import erasure
from backend.states import MessageStatus, Outcome
from backend.wechat.errors import WeChatError

log = logging.getLogger(__name__)

_messages = Message.__table__
_users = User.__table__
WAITING = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)


def receive(platform: Platform, message: Mapping[str, Any]) -> Callable[[Flask], None] | None:
    """Apply one decrypted push of the authorization event URL; the work left for after the answer, if any."""
    info_type = message.get("InfoType")
    appid = message.get("AuthorizerAppid")
    if info_type == "component_verify_ticket":
        ticket = message.get("ComponentVerifyTicket")
        if isinstance(ticket, str) and ticket:
            platform.tickets.save(ticket)
        return None
    if info_type in ("authorized", "updateauthorized"):
        code = message.get("AuthorizationCode")
        if isinstance(code, str) and code:
            return lambda flask_app: complete_after_answer(flask_app, platform, code)
        if info_type == "updateauthorized" and isinstance(appid, str) and appid:  # the sets changed: re-read them
            return lambda flask_app: reread_sets_after_answer(flask_app, platform, appid)
        return None
    if info_type == "unauthorized" and isinstance(appid, str) and appid:
        revoke(platform, appid)
    return None


def complete(platform: Platform, authorization_code: str) -> str:
    """Trade an authorization code for the app's tokens and sets (push, CLI, or the redirect): its appid."""
    info = platform.component.query_auth(authorization_code)
    appid = platform.save_authorization(info)
    log.info("merchant app authorized", extra={"appid": appid})
    return appid


def complete_after_answer(flask_app: Flask, platform: Platform, authorization_code: str) -> None:
    with flask_app.app_context():
        try:
            complete(platform, authorization_code)
        except WeChatError as exc:  # a replayed push's code is used already; the redirect or the CLI can finish it
            log.warning("authorization not completed", extra={"errcode": exc.errcode})


def reread_sets_after_answer(flask_app: Flask, platform: Platform, appid: str) -> None:
    """`updateauthorized` without a code: the app's permission sets from `api_get_authorizer_info`."""
    with flask_app.app_context():
        try:
            info = platform.component.authorizer_info(appid)["authorization_info"]
        except WeChatError as exc:
            log.warning("permission sets not re-read", extra={"appid": appid, "errcode": exc.errcode})
            return
        sets = [int(item["funcscope_category"]["id"]) for item in info.get("func_info") or []]
        platform.update_sets(appid, sets)


def revoke(platform: Platform, appid: str) -> None:
    """`unauthorized` (or 61003 on a call): the app is frozen, its waiting messages fail, its sessions end."""
    if not platform.freeze(appid):
        return  # frozen already, or never authorized here
    now = utcnow()
    with work():
        failed = db.session.execute(
            sa.update(_messages)
            .where(_messages.c.app_id == appid, _messages.c.status.in_(WAITING))
            .values(status=MessageStatus.FAILED, outcome=Outcome.APP_UNAUTHORIZED, updated_at=now)
            .returning(*_messages.c)
        ).all()
        if failed:
            rows = [row._mapping for row in failed]
            webhooks.emit_messages(
                "message.failed", rows, status=MessageStatus.FAILED, outcome=Outcome.APP_UNAUTHORIZED
            )
        # Session tokens issued before the revoke stop working, also after a re-authorization.
        db.session.execute(
            sa.update(_users).where(_users.c.app_id == appid).values(token_version=_users.c.token_version + 1)
        )
    log.warning("merchant app unauthorized: frozen", extra={"appid": appid, "messages_failed": len(failed)})


def revoke_in_app(flask_app: Flask, platform: Platform, appid: str) -> None:
    """`revoke` from the WeChat client (61003 on a call), which may run outside any app context."""
    with flask_app.app_context():
        if db.session.info.get("unit_of_work_open"):
            platform.freeze(appid)  # inside someone's unit of work: the row now, the rest at the next sweep
            return
        revoke(platform, appid)


def fail_waiting_of_frozen_apps() -> int:
    """The sweep's share (within 30 s): waiting messages of frozen apps fail (a message scheduled while a
    process still thought its app authorized, or a revoke seen by 61003 inside a unit of work)."""
    frozen = sa.select(AuthorizedApp.appid).where(AuthorizedApp.state == AppState.FROZEN).scalar_subquery()
    with work():
        failed = db.session.execute(
            sa.update(_messages)
            .where(_messages.c.app_id.in_(frozen), _messages.c.status.in_(WAITING))
            .values(status=MessageStatus.FAILED, outcome=Outcome.APP_UNAUTHORIZED, updated_at=utcnow())
            .returning(*_messages.c)
        ).all()
        if failed:
            webhooks.emit_messages(
                "message.failed",
                [row._mapping for row in failed],
                status=MessageStatus.FAILED,
                outcome=Outcome.APP_UNAUTHORIZED,
            )
    return len(failed)


def erase_users_of_revoked_apps(retain_days: int) -> list[str]:
    """Apps frozen for more than `retain_days`: their users are erased as under "Personal data" (PIPL art. 21).

    The erase itself is the personal-data capability's (`backend.privacy.erasure.erase`); until that
    is installed, nothing is erased and the apps stay due (logged).
    """
    due_before = utcnow() - timedelta(days=retain_days)
    apps = list(
        db.session.scalars(
            sa.select(AuthorizedApp.appid).where(
                AuthorizedApp.state == AppState.FROZEN,
                AuthorizedApp.unauthorized_at < due_before,
                AuthorizedApp.users_erased_at.is_(None),
            )
        )
    )
    if not apps:
        return []
    for appid in apps:
        user_ids = list(db.session.scalars(sa.select(User.id).where(User.app_id == appid)))
        db.session.rollback()  # the read ends before each erase opens its own unit of work
        for user_id in user_ids:
            erasure.erase(user_id)
        with work():
            db.session.execute(
                sa.update(AuthorizedApp).where(AuthorizedApp.appid == appid).values(users_erased_at=utcnow())
            )
    return apps
