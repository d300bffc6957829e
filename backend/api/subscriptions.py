"""`/api/v1/subscriptions`: what the user's subscribe popups returned, and the credits left."""

from flask import Blueprint, g

from backend.api.guards import current_user_id, json_body, login_required, rate_limit
from backend.api.idempotency import idempotent
from backend.errors import RateLimited
from backend.openapi import BEARER, doc
from backend.schemas import SubscriptionListSchema, SubscriptionReportSchema, SubscriptionSchema, load
from backend.services import consent

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v1")


@bp.post("/subscriptions")
@doc(200, SubscriptionListSchema, body=SubscriptionReportSchema, auth=BEARER, idempotent=True, errors=[RateLimited])
@login_required
@rate_limit("reports", "RATE_LIMIT_REPORTS", current_user_id)
@idempotent
def create_report():
    """Report what one `wx.requestSubscribeMessage` popup returned.

    Each `accept` of a one-time template adds a send credit; `reject` records the choice and
    keeps earlier credits. When message push is configured, WeChat's own popup event is the
    authority for credits and a report only records the choice. The user comes from the
    session token. The answer lists the subscriptions of the templates reported.
    """
    body = load(SubscriptionReportSchema, json_body())
    subscriptions = consent.record_report(g.user, body["results"], body["scene"])
    return {"subscriptions": SubscriptionSchema(many=True).dump(subscriptions)}, 200


@bp.get("/subscriptions")
@doc(200, SubscriptionListSchema, auth=BEARER)
@login_required
def list_subscriptions():
    """Every template the user has reported on, with the credits left."""
    return {"subscriptions": SubscriptionSchema(many=True).dump(consent.list_subscriptions(g.user))}
