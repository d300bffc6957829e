"""Session tokens for the mini program: signed with SECRET_KEY, expiring, revocable.

A token carries the user id, the user's `token_version` and the appid it was issued for:
every later call acts within that app (docs/api.md, several mini programs). Logout bumps the
version, which voids every token issued before it.

The signature is checked on every call; the user's current version is read from the database at
most once every VERSION_TTL seconds per user and process (a report is every popup's hot path, and
reading the user cost a fifth of it). So a logout takes effect at once in the process that made it
and within VERSION_TTL seconds in every other (docs/api.md, `POST /api/v1/auth/logout`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend.apps import MiniProgram, MiniPrograms
from backend.errors import Unauthorized
from backend.extensions import db
from backend.models import User

SESSION_SECONDS = 7 * 24 * 3600
VERSION_TTL = 5.0  # seconds a process trusts a user's token version it read (the logout bound)
VERSION_CACHE_SIZE = 50_000
_SALT = "wx-subscribe-session"
_users = User.__table__
_VERSION = sa.select(_users.c.token_version, _users.c.app_id).where(_users.c.id == sa.bindparam("id"))
_clock = time.monotonic


@dataclass(frozen=True)
class SessionUser:
    """The user a valid session token names: what every call needs, without loading the user
    (`current_user()` in backend/api/guards.py loads it for the views that change it)."""

    id: int
    app_id: str
    token_version: int


def _serializer() -> URLSafeTimedSerializer:
    key = current_app.config["SECRET_KEY"]
    made = current_app.extensions.get("session_serializer")
    if made is None or made[0] != key:  # built once per key, not per call
        made = current_app.extensions["session_serializer"] = (key, URLSafeTimedSerializer(key, salt=_SALT))
    return made[1]


def issue_token(user: User, mini_program: MiniProgram) -> tuple[str, int]:
    """A new session token for `user` of `mini_program` and its lifetime in seconds."""
    return _serializer().dumps({"uid": user.id, "v": user.token_version, "app": mini_program.appid}), SESSION_SECONDS


def user_from_token(token: str, apps: MiniPrograms) -> tuple[SessionUser, MiniProgram]:
    """The user a token belongs to and its app, or Unauthorized when it is bad, expired or revoked
    (within VERSION_TTL seconds of a logout made by another process), or names an app this
    backend no longer serves."""
    try:
        payload = _serializer().loads(token, max_age=SESSION_SECONDS)
    except SignatureExpired:
        raise Unauthorized("The session token has expired; log in again.") from None
    except BadSignature:
        raise Unauthorized("The session token is invalid.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise Unauthorized("The session token is invalid.")
    known = _current_version(payload["uid"])
    if known is None or known[0] != payload.get("v"):
        raise Unauthorized("The session token was revoked; log in again.")
    version, user_app = known
    # A token issued before tokens named their app acts for its user's app.
    appid = payload.get("app", user_app)
    mini_program = apps.get(appid) if isinstance(appid, str) else None
    if mini_program is None or appid != user_app:
        raise Unauthorized("The session token is invalid.")
    return SessionUser(payload["uid"], user_app, version), mini_program


def _versions() -> dict[int, tuple[float, int, str]]:
    return current_app.extensions.setdefault("token_versions", {})


def _current_version(user_id: int) -> tuple[int, str] | None:
    """(token version, app) of the user as read at most VERSION_TTL seconds ago; None for no user."""
    versions = _versions()
    now = _clock()
    known = versions.get(user_id)
    if known is not None and known[0] > now:
        return known[1], known[2]
    row = db.session.execute(_VERSION, {"id": user_id}).first()
    if row is None:
        return None
    if len(versions) >= VERSION_CACHE_SIZE:
        versions.clear()
    versions[user_id] = (now + VERSION_TTL, row.token_version, row.app_id)
    return row.token_version, row.app_id


def forget_version(user_id: int) -> None:
    """The user's version changed (a logout committed): this process reads it again on the next call."""
    _versions().pop(user_id, None)
