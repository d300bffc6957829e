"""`/api/v1/apps/<appid>/quota`: how many subscribe messages WeChat still allows the app today."""

from __future__ import annotations

from flask import Blueprint, g

from backend.api.guards import api_key_required, named_app
from backend.api.openapi import API_KEY, doc, error
from backend.api.schemas.quota import QuotaSchema
from backend.errors import AppNotFound, Forbidden, WeChatUnavailable
from backend.ops import quota

bp = Blueprint("quota", __name__, url_prefix="/api/v1")


@bp.get("/apps/<appid>/quota")
@api_key_required
@doc(
    200,
    QuotaSchema,
    auth=API_KEY,
    errors=[
        error(Forbidden, when="The API key may not act for this app."),
        error(AppNotFound, when="No app with that appid is served here."),
        error(WeChatUnavailable, when="The quota was never read and WeChat does not answer now."),
    ],
)
def get_quota(appid: str):
    """WeChat's daily quota of `subscribe/send` for the app (getApiQuota).

    Read from WeChat at most once per 10 minutes across every process; `read_at` says when."""
    mini_program = named_app(appid)
    if mini_program.appid not in g.apps:
        raise Forbidden(details={"appid": mini_program.appid})
    return quota.current(mini_program)
