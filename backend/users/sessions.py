"""Session tokens for the mini program: signed with SECRET_KEY, expiring, revocable.

A token carries the user id, the user's `token_version` and the appid it was issued for:
every later call acts within that app (docs/api.md, several mini programs). Logout bumps the
version, which voids every token issued before it.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend.apps import MiniProgram, MiniPrograms
from backend.errors import Unauthorized
from backend.extensions import db
from backend.models import User

SESSION_SECONDS = 7 * 24 * 3600
_SALT = "wx-subscribe-session"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_token(user: User, mini_program: MiniProgram) -> tuple[str, int]:
    """A new session token for `user` of `app` and its lifetime in seconds."""
    return _serializer().dumps({"uid": user.id, "v": user.token_version, "app": mini_program.appid}), SESSION_SECONDS


def user_from_token(token: str, apps: MiniPrograms) -> tuple[User, MiniProgram]:
    """The user a token belongs to and its app, or Unauthorized when it is bad, expired or revoked,
    or names an app this backend no longer serves."""
    try:
        payload = _serializer().loads(token, max_age=SESSION_SECONDS)
    except SignatureExpired:
        raise Unauthorized("The session token has expired; log in again.") from None
    except BadSignature:
        raise Unauthorized("The session token is invalid.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise Unauthorized("The session token is invalid.")
    user = db.session.get(User, payload["uid"])
    if user is None or user.token_version != payload.get("v"):
        raise Unauthorized("The session token was revoked; log in again.")
    # A token issued before tokens named their app acts for its user's app.
    appid = payload.get("app", user.app_id)
    mini_program = apps.get(appid) if isinstance(appid, str) else None
    if mini_program is None or appid != user.app_id:
        raise Unauthorized("The session token is invalid.")
    return user, mini_program
