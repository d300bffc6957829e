"""The mini program's log-in: `/api/v1/auth/*` and `/api/v1/me`."""

from flask import Blueprint, g

from backend.api.guards import json_body, login_required
from backend.schemas import CodeSchema, MeSchema, UserSchema, load
from backend.services import sessions, users

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


@bp.post("/auth/login")
def create_session():
    body = load(CodeSchema(), json_body())
    user = users.login(body["code"])
    token, expires_in = sessions.issue_token(user)
    return {"token": token, "token_type": "Bearer", "expires_in": expires_in, "user": UserSchema().dump(user)}


@bp.post("/auth/phone")
@login_required
def add_phone():
    body = load(CodeSchema(), json_body())
    user = users.add_phone(g.user, body["code"])
    return {
        "phone_number": user.phone_number,
        "pure_phone_number": user.pure_phone_number,
        "country_code": user.country_code,
    }


@bp.post("/auth/logout")
@login_required
def delete_session():
    users.logout(g.user)
    return "", 204


@bp.get("/me")
@login_required
def get_me():
    return MeSchema().dump(g.user)
