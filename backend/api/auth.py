"""The mini program's log-in: `/api/v1/auth/*` and `/api/v1/me`."""

from flask import Blueprint, g

from backend.api.guards import client_ip, current_user_id, json_body, login_app, login_required, rate_limit
from backend.api.openapi import BEARER, doc, error
from backend.api.schemas import CodeSchema, LoginRequestSchema, LoginSchema, MeSchema, PhoneSchema, UserSchema, load
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
@rate_limit("login", "RATE_LIMIT_LOGIN", client_ip)
def create_session():
    """Log in with a `wx.login` code.

    Calls the app's jscode2session and creates or updates the user by openid. The session_key
    stays on the server; the answer is a session token for `Authorization: Bearer <token>`,
    which carries the app: every later call acts within it.
    """
    body = load(LoginRequestSchema, json_body())
    mini_program = login_app(body["appid"])
    user = accounts.login(mini_program, body["code"])
    token, expires_in = sessions.issue_token(user, mini_program)
    return {"token": token, "token_type": "Bearer", "expires_in": expires_in, "user": UserSchema().dump(user)}


@bp.post("/auth/phone")
@doc(200, PhoneSchema, body=CodeSchema, auth=BEARER, errors=[WeChatCodeInvalid, RateLimited, WeChatUnavailable])
@login_required
@rate_limit("phone", "RATE_LIMIT_REPORTS", current_user_id)
def add_phone():
    """Store the user's phone number from a getPhoneNumber button's code."""
    body = load(CodeSchema, json_body())
    user = accounts.add_phone(g.mini_program, g.user, body["code"])
    return {
        "phone_number": user.phone_number,
        "pure_phone_number": user.pure_phone_number,
        "country_code": user.country_code,
    }


@bp.post("/auth/logout")
@doc(204, auth=BEARER)
@login_required
def delete_session():
    """Log out: this session token, and the user's older ones, stop working."""
    accounts.logout(g.user)
    return "", 204


@bp.get("/me")
@doc(200, MeSchema, auth=BEARER)
@login_required
def get_me():
    """The logged-in user."""
    return MeSchema().dump(g.user)
