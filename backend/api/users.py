"""`/api/v1/users` and `/api/v1/binding-codes` for business code, `/api/v1/me/binding` for the
mini program: the users as business code knows them (docs/api.md, Recipients)."""

from __future__ import annotations

from flask import Blueprint, g, request

from backend.api.guards import api_key_required, client_ip, current_user, login_required
from backend.api.openapi import API_KEY, BEARER, doc, error, query
from backend.api.schemas.auth import MeSchema
from backend.api.schemas.common import load
from backend.api.schemas.users import (
    AccountListSchema,
    AccountSchema,
    BindingCode,
    BindingCodeRequestSchema,
    BindingCodeSchema,
    ExternalIdSchema,
    RedeemSchema,
    UserLookupSchema,
)
from backend.errors import (
    BindingCodeInvalid,
    ExternalIdTaken,
    InvalidRequest,
    RateLimited,
    UserErased,
    UserNotFound,
)
from backend.users import binding, queries, recipients

bp = Blueprint("users", __name__, url_prefix="/api/v1")

NO_USER = error(UserNotFound, when="No user with that user_id.")
ERASED = error(UserErased, when="The user was erased.")


@bp.get("/users/<int:user_id>")
@api_key_required
@doc(200, AccountSchema, auth=API_KEY, errors=[NO_USER, ERASED])
def get_user(user_id: int):
    """A user with their external_id, whether they shared a phone number, and their credits per template.

    For business code to decide before it sends (e.g. fall back to SMS without a credit).
    """
    return queries.account(binding.get_user(g.apps, user_id))


@bp.get("/users")
@api_key_required
@doc(
    200,
    AccountListSchema,
    auth=API_KEY,
    params=[
        query("openid", "The user with this openid."),
        query("external_id", "The user bound to this external_id."),
        query("phone_number", "The users who shared this number (any spelling, compared in E.164)."),
        query("unionid", "The users with this unionid: the same person in each app the key may act for."),
        query("appid", "Only users of this app (required for a key of several apps to name one)."),
    ],
    errors=[error(InvalidRequest, when="Not exactly one of the filters, or a bad value.")],
)
def find_users():
    """The users matching exactly one filter: none, one, or (a shared phone number) several."""
    filters = {name: value for name, value in request.args.to_dict().items() if name != "appid"}
    ((kind, value),) = load(UserLookupSchema, filters).items()
    return queries.accounts(recipients.users_where(g.apps, kind, value))


@bp.put("/users/<int:user_id>/external-id")
@api_key_required
@doc(200, AccountSchema, body=ExternalIdSchema, auth=API_KEY, errors=[NO_USER, ERASED, ExternalIdTaken])
def bind_external_id(user_id: int, body: dict):
    """Bind the business system's id to the user: from then on a send may name them by `external_id`."""
    return queries.account(binding.bind(g.apps, user_id, body["external_id"]))


@bp.delete("/users/<int:user_id>/external-id")
@api_key_required
@doc(204, auth=API_KEY, errors=[NO_USER, ERASED])
def unbind_external_id(user_id: int):
    """Unbind the user's external_id (nothing happens when none is bound)."""
    binding.unbind(g.apps, user_id)


@bp.post("/binding-codes")
@api_key_required
@doc(201, BindingCodeSchema, body=BindingCodeRequestSchema, auth=API_KEY)
def create_binding_code(body: dict):
    """A single-use code that binds `external_id` to whoever redeems it in the mini program.

    For a business system that can show the person something (a page, an e-mail) but doesn't
    know their WeChat user. The code is shown once; only its hash is kept.
    """
    # Its appid settled g.mini_program (the key's guard).
    return BindingCode(*binding.create_code(g.mini_program.appid, body["external_id"], body["expires_in"]))


@bp.post("/me/binding")
@login_required
@doc(
    200,
    MeSchema,
    body=RedeemSchema,
    auth=BEARER,
    errors=[
        BindingCodeInvalid,
        error(RateLimited, when="Too many wrong codes from this user, or from this client IP, in the last minute."),
        error(ExternalIdTaken, when="Another request bound the code's external_id at the same moment; try again."),
    ],
)
def redeem_binding_code(body: dict):
    """Redeem a binding code: the logged-in user is bound to the code's external_id."""
    return binding.redeem(current_user(), body["code"], client_ip())
