"""Erase and export one person (docs/api.md "Personal data"): business code by user id with an API
key, the mini program's user themselves with their session token."""

from __future__ import annotations

from flask import Blueprint, g

from backend.api.guards import api_key_required, current_user, login_required
from backend.api.openapi import API_KEY, BEARER, doc, error
from backend.api.schemas.users import ErasedSchema, ExportSchema
from backend.errors import ServiceUnavailable, UserErased, UserNotFound
from backend.privacy import erasure, export
from backend.users import binding

bp = Blueprint("privacy", __name__, url_prefix="/api/v1")

NO_USER = error(UserNotFound, when="No user with that user_id.")
LOG_DOWN = error(ServiceUnavailable, when="The erasure log (ERASURE_LOG) can't be written: nothing was erased.")


@bp.delete("/users/<int:user_id>")
@api_key_required
@doc(200, ErasedSchema, auth=API_KEY, errors=[NO_USER, LOG_DOWN])
def erase_user(user_id: int):
    """Erase the person (PIPL art. 47): nothing of theirs stays in any table.

    Their pending and scheduled messages are canceled, their session tokens stop working, and a
    `user.erased` webhook carries their external_id. Erasing again answers the same, and changes
    nothing."""
    user = binding.get_user(g.apps, user_id, erased=True)
    return erasure.erased_answer(erasure.erase(user.id))


@bp.get("/users/<int:user_id>/export")
@api_key_required
@doc(200, ExportSchema, auth=API_KEY, errors=[NO_USER, error(UserErased, when="The user was erased.")])
def export_user(user_id: int):
    """Everything held about the person, as one JSON document (PIPL art. 45)."""
    return export.export(binding.get_user(g.apps, user_id))


@bp.delete("/me")
@login_required
@doc(200, ErasedSchema, auth=BEARER, errors=[LOG_DOWN])
def erase_me():
    """Erase the logged-in user (the mini program's "delete my data").

    As `DELETE /api/v1/users/{user_id}` does; their session token stops working with it."""
    return erasure.erased_answer(erasure.erase(current_user().id))


@bp.get("/me/export")
@login_required
@doc(200, ExportSchema, auth=BEARER)
def export_me():
    """Everything held about the logged-in user (the mini program's "my data" page)."""
    return export.export(current_user())
