"""Session tokens for the mini program: signed with SECRET_KEY, expiring, revocable.

A token carries the user id, the user's `token_version` and the appid it was issued for:
every later call acts within that app (docs/api.md, several mini programs). Logout bumps the
version, which voids every token issued before it.

The signature is checked on every call; the user's current version is read from the database at
most once every SESSION_VERSION_TTL seconds (5) per user and process (a report is every popup's hot
path, and reading the user cost a fifth of it). A revocation (`revoked`, after a logout commits)
takes effect at once in the process that made it; with Redis it is published on REVOKED_CHANNEL,
and every other process that listens forgets the version it held, so it takes effect there as soon
as the message arrives. Without Redis, or while Redis is down or the message is lost, the TTL is
the bound: within SESSION_VERSION_TTL seconds everywhere (docs/api.md, `POST /api/v1/auth/logout`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend.apps import MiniProgram, MiniPrograms
from backend.errors import REDIS_DOWN_ERRORS, Unauthorized
from backend.extensions import db
from backend.infra.redis_link import current_link
from backend.models import User

SESSION_SECONDS = 7 * 24 * 3600
VERSION_TTL = 5.0  # SESSION_VERSION_TTL's default: seconds a process trusts a version it read (the logout bound)
VERSION_CACHE_SIZE = 50_000
REVOKED_CHANNEL = "wxsub:session-revoked"  # Redis pub/sub: a user id whose tokens were revoked
log = logging.getLogger(__name__)
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


def _versions(app: Flask | None = None) -> dict[int, tuple[float, int, str]]:
    return (app or current_app).extensions.setdefault("token_versions", {})


def _current_version(user_id: int) -> tuple[int, str] | None:
    """(token version, app) of the user as read at most SESSION_VERSION_TTL seconds ago; None for no user."""
    _listen_for_revocations()
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
    versions[user_id] = (now + current_app.config["SESSION_VERSION_TTL"], row.token_version, row.app_id)
    return row.token_version, row.app_id


def forget_version(user_id: int) -> None:
    """The user's version changed: this process reads it again on the next call."""
    _versions().pop(user_id, None)


def revoked(user_id: int) -> None:
    """The user's token version was bumped and committed (a logout): every process forgets the
    version it holds, this one at once, the others through Redis when it answers (else the TTL)."""
    forget_version(user_id)
    link = current_link()
    if link is not None:
        link.call(lambda: link.client.publish(REVOKED_CHANNEL, str(user_id)), lambda: 0, "session revocation")


# -- the listener: one thread per process, started by the first session check -------------------

LISTEN_POLL = 1.0  # seconds a wait for a message lasts before the thread looks again


def _listen_for_revocations() -> None:
    link = current_link()
    if link is None or current_app.extensions.get("revocation_listener") == os.getpid():
        return  # a forked worker starts its own (threads don't survive a fork)
    app = current_app._get_current_object()
    with _listener_lock:
        if app.extensions.get("revocation_listener") == os.getpid():
            return
        app.extensions["revocation_listener"] = os.getpid()
        app.extensions["revocations_heard"] = threading.Event()  # set while subscribed
    listener = threading.Thread(target=_listen, args=(weakref.ref(app), link), daemon=True, name="session-revocations")
    listener.start()


_listener_lock = threading.Lock()


def _listen(app_ref: weakref.ref[Flask], link) -> None:
    """Forget each revoked user's version; after a lost connection, forget every version (a
    message may have been missed meanwhile), and subscribe again once Redis answers. Ends with
    its app (tests make many)."""
    while app_ref() is not None:
        if link.down:  # a known outage: tried again when every other use of Redis would be, not before
            time.sleep(LISTEN_POLL)
            continue
        try:
            pubsub = link.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(REVOKED_CHANNEL)
                _forget(app_ref, None)  # whatever was revoked before the subscription: read again
                _heard(app_ref, True)
                while app_ref() is not None:
                    message = pubsub.get_message(timeout=LISTEN_POLL)
                    if message is not None and message.get("type") == "message":
                        _forget(app_ref, message["data"])
            finally:
                _heard(app_ref, False)
                pubsub.close()
        except REDIS_DOWN_ERRORS as exc:
            link.note_failure(exc, "session_revocations")  # logged once per outage, as every use is
        except Exception:  # never let the thread die: the TTL still bounds a revocation
            log.exception("session revocation listener failed")
            time.sleep(link.retry_after)


def _heard(app_ref: weakref.ref[Flask], subscribed: bool) -> None:
    app = app_ref()
    heard = app.extensions.get("revocations_heard") if app is not None else None
    if heard is not None:
        heard.set() if subscribed else heard.clear()


def _forget(app_ref: weakref.ref[Flask], data: bytes | str | None) -> None:
    """Forget one user's version (`data`: the published user id), or every version (None)."""
    app = app_ref()
    if app is None:
        return
    if data is None:
        _versions(app).clear()
        return
    try:
        user_id = int(data)
    except (TypeError, ValueError):
        return  # not a user id: not ours
    _versions(app).pop(user_id, None)
