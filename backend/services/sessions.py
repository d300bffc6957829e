"""Session tokens for the mini program: signed with SECRET_KEY, expiring, revocable.

A token carries the user id and the user's `token_version`; logout bumps the version,
which voids every token issued before it.
"""

from __future__ import annotations

import hmac

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend.errors import Unauthorized
from backend.extensions import db
from backend.models import User

SESSION_SECONDS = 7 * 24 * 3600
_SALT = "wx-subscribe-session"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_token(user: User) -> tuple[str, int]:
    """A new session token for `user` and its lifetime in seconds."""
    return _serializer().dumps({"uid": user.id, "v": user.token_version}), SESSION_SECONDS


def user_from_token(token: str) -> User:
    """The user a token belongs to, or Unauthorized when it is bad, expired or revoked."""
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
    return user


def api_key_matches(given: str) -> bool:
    """Constant-time comparison against every configured business API key."""
    matched = False
    for key in current_app.config["BUSINESS_API_KEYS"]:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched
