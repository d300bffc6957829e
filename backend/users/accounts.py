"""Log-in through jscode2session, phone numbers through getuserphonenumber, logout."""

from __future__ import annotations

from backend import errors
from backend.apps import MiniProgram
from backend.consent.ledger import ensure_user
from backend.db import work
from backend.models import User
from backend.users import sessions
from backend.users.phones import to_e164
from backend.wechat import errors as wx


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
    except wx.WeChatError as exc:
        raise errors.WeChatUnavailable(details={"errcode": exc.errcode} if exc.errcode else {}) from None


def login(mini_program: MiniProgram, code: str) -> User:
    """Exchange a `wx.login` code of `app` for the user (created on first log-in); session_key stays here."""
    session = _wechat_call(mini_program.client.auth.code_to_session, code)
    with work():
        user = ensure_user(
            mini_program.appid,
            session["openid"],
            unionid=session.get("unionid"),
            session_key=session.get("session_key"),
        )
    return user


def add_phone(mini_program: MiniProgram, user: User, code: str) -> User:
    """Store the phone number behind a getPhoneNumber code of `app` (bound to this user's openid)."""
    info = _wechat_call(mini_program.client.auth.get_phone_number, code, user.openid)
    with work():
        user.phone_number = info.get("phoneNumber")
        user.pure_phone_number = info.get("purePhoneNumber")
        user.country_code = info.get("countryCode")
        user.phone_e164 = to_e164(user.phone_number, user.country_code)  # what sends by phone_number look up
    return user


def logout(user: User) -> None:
    """Void every session token issued to the user so far: at once in this process, within
    sessions.VERSION_TTL seconds in the others."""
    with work():
        user.token_version += 1
    sessions.forget_version(user.id)
