"""The mini program's log-in: `/api/v1/auth/*` and `/api/v1/me`."""

from flask import Blueprint, g

from backend.api.guards import client_ip, current_user, current_user_id, login_app, login_required, rate_limit
from backend.api.openapi import BEARER, doc, error
from backend.api.schemas.auth import CodeSchema, LoginRequestSchema, LoginSchema, MeSchema, PhoneSchema, Session
from backend.errors import (
    AppNotFound,
    InvalidRequest,
    RateLimited,
    WeChatCodeInvalid,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from backend.users import accounts, sessions

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


@bp.post("/auth/login")
@rate_limit("login", "RATE_LIMIT_LOGIN", client_ip)
@doc(
    200,
    LoginSchema,
    body=LoginRequestSchema,
    errors=[
        error(InvalidRequest, when="No code; or no appid while several apps are configured."),
        WeChatCodeInvalid,
        WeChatUserBlocked,
        error(AppNotFound, when="The appid is not one of the apps this backend serves."),
        RateLimited,
        WeChatUnavailable,
    ],
)
def create_session(body: dict):
    """Log in with a `wx.login` code.

    Calls the app's jscode2session and creates or updates the user by openid. The session_key
    stays on the server; the answer is a session token for `Authorization: Bearer <token>`,
    which carries the app: every later call acts within it.
    """
    mini_program = login_app(body["appid"])
    user = accounts.login(mini_program, body["code"])
    return Session(*sessions.issue_token(user, mini_program), user=user)


@bp.post("/auth/phone")
@login_required
@rate_limit("phone", "RATE_LIMIT_REPORTS", current_user_id)
@doc(200, PhoneSchema, body=CodeSchema, auth=BEARER, errors=[WeChatCodeInvalid, RateLimited, WeChatUnavailable])
def add_phone(body: dict):
    """Store the user's phone number from a getPhoneNumber button's code."""
    return accounts.add_phone(g.mini_program, current_user(), body["code"])


@bp.post("/auth/logout")
@login_required
@doc(204, auth=BEARER)
def delete_session():
    """Log out: this session token, and the user's older ones, stop working."""
    accounts.logout(current_user())


@bp.get("/me")
@login_required
@doc(200, MeSchema, auth=BEARER)
def get_me():
    """The logged-in user."""
    return current_user()
