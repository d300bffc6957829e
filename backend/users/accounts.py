"""Log-in through jscode2session, phone numbers through getuserphonenumber, logout."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from backend import errors
from backend.apps import MiniProgram
from backend.consent.ledger import ensure_user
from backend.db import work
from backend.models import User
from backend.users import personal, sessions
from backend.wechat import errors as wx

log = logging.getLogger(__name__)

# What each answer gives that is stored, and its column: WeChat's strings must fit (below).
_users = User.__table__.c
# session_key and the phone numbers are stored sealed (users/personal.py): their limit is what
# WeChat documents and a sealed value of that length fits its column, not the column's own length.
_WECHAT_STRING = sa.String(64)
SESSION_FIELDS = {"openid": _users.openid, "unionid": _users.unionid, "session_key": sa.Column(_WECHAT_STRING)}
PHONE_FIELDS = {
    "phoneNumber": sa.Column(sa.String(32)),
    "purePhoneNumber": sa.Column(sa.String(32)),
    "countryCode": _users.country_code,
}


def _wechat_call(function, *args):
    """Map WeChat's answers on a code to the API's errors."""
    try:
        return function(*args)
    except wx.CodeInvalid as exc:  # 40029 invalid code, 40163 code been used
        raise errors.WeChatCodeInvalid(details={"errcode": exc.errcode}) from None
    except wx.UserBlocked as exc:  # 40226 high-risk user
        raise errors.WeChatUserBlocked(details={"errcode": exc.errcode}) from None
    except wx.QuotaExceeded as exc:  # 45011: 100 logins per user per minute
        raise errors.RateLimited(details={"errcode": exc.errcode}) from None
    except wx.PlatformError as exc:  # a platform's merchant app: 61003/61007 → 409, the rest 503
        raise errors.platform_error(exc) from None
    except wx.WeChatError as exc:
        raise errors.WeChatUnavailable(details={"errcode": exc.errcode} if exc.errcode else {}) from None


def _fits(api: str, answer: Mapping[str, Any], fields: Mapping[str, sa.Column], required: tuple[str, ...] = ()) -> None:
    """Each stored string of WeChat's answer fits its column, or the call is WeChat's fault: 502
    `wechat_unavailable` naming the field, logged by name and length (never the value: an openid,
    a phone number). Without this a long value was a 500 on every later call for that user."""
    for name, column in fields.items():
        value = answer.get(name)
        if value is None and name not in required:
            continue
        if not isinstance(value, str) or not value or len(value) > column.type.length:
            length = len(value) if isinstance(value, str) else None
            extra = {"api": api, "field": name, "length": length, "limit": column.type.length}
            log.warning("wechat answer refused: a field does not fit", extra=extra)
            raise errors.WeChatUnavailable(status=502, details={"field": name})


def login(mini_program: MiniProgram, code: str) -> User:
    """Exchange a `wx.login` code of `mini_program` for the user (created on first log-in); session_key stays here."""
    session = _wechat_call(mini_program.client.auth.code_to_session, code)
    _fits("jscode2session", session, SESSION_FIELDS, required=("openid",))
    with work():
        user = ensure_user(
            mini_program.appid,
            session["openid"],
            unionid=session.get("unionid"),
            session_key=personal.seal_session_key(session.get("session_key")),
        )
    return user


def add_phone(mini_program: MiniProgram, user: User, code: str) -> User:
    """Store the phone number behind a getPhoneNumber code of `mini_program` (bound to this user's openid)."""
    info = _wechat_call(mini_program.client.auth.get_phone_number, code, user.openid)
    _fits("getuserphonenumber", info, PHONE_FIELDS)
    with work():
        personal.store_phone(user, info)  # sealed, with the hash sends by phone_number look up
    return user


def logout(user: User) -> None:
    """Void every session token issued to the user so far: at once in this process, in the others
    as soon as Redis tells them, within SESSION_VERSION_TTL seconds without it."""
    with work():
        user.token_version += 1
    sessions.revoked(user.id)
