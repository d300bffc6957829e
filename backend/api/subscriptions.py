"""`/api/v1/subscriptions`: what the user's subscribe popups returned, and the credits left."""

from flask import Blueprint, g

from backend.api.guards import current_user_id, json_body, login_required, rate_limit
from backend.api.idempotency import held_key, idempotent
from backend.errors import RateLimited
from backend.openapi import BEARER, doc
from backend.schemas import SubscriptionListSchema, SubscriptionReportSchema, SubscriptionSchema, load
from backend.services import consent
from backend.services.idempotency import Replay

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v1")


def _reported(subscriptions) -> dict:
    return {"subscriptions": SubscriptionSchema(many=True).dump(subscriptions)}


def _answer_from_report(effect: dict) -> Replay:
    """A retry of a committed report: the subscriptions of the templates it reported, as they are."""
    by_template = {subscription.template_id: subscription for subscription in consent.list_subscriptions(g.user)}
    return Replay(200, _reported([by_template[t] for t in effect["templates"] if t in by_template]))


@bp.post("/subscriptions")
@doc(200, SubscriptionListSchema, body=SubscriptionReportSchema, auth=BEARER, idempotent=True, errors=[RateLimited])
@login_required
@rate_limit("reports", "RATE_LIMIT_REPORTS", current_user_id)
@idempotent(_answer_from_report, lease=False)
def create_report():
    """Report what one `wx.requestSubscribeMessage` popup returned.

    Each `accept` of a one-time template adds a send credit; `reject` records the choice and
    keeps earlier credits. When message push is configured, WeChat's own popup event is the
    authority for credits and a report only records the choice. The user comes from the
    session token. The answer lists the subscriptions of the templates reported.
    """
    body = load(SubscriptionReportSchema, json_body())
    return _reported(consent.record_report(g.app, g.user, body["results"], body["scene"], held_key())), 200


@bp.get("/subscriptions")
@doc(200, SubscriptionListSchema, auth=BEARER)
@login_required
def list_subscriptions():
    """Every template the user has reported on, with the credits left."""
    return {"subscriptions": SubscriptionSchema(many=True).dump(consent.list_subscriptions(g.user))}
