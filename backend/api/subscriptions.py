"""`/api/v1/subscriptions`: what the user's subscribe popups returned, and the credits left."""

from flask import Blueprint, g

from backend.api.guards import json_body, login_required
from backend.api.idempotency import idempotent
from backend.schemas import SubscriptionReportSchema, SubscriptionSchema, load
from backend.services import consent

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v1")


@bp.post("/subscriptions")
@login_required
@idempotent
def create_report():
    body = load(SubscriptionReportSchema(), json_body())
    subscriptions = consent.record_report(g.user, body["results"], body["scene"])
    return {"subscriptions": SubscriptionSchema(many=True).dump(subscriptions)}, 200


@bp.get("/subscriptions")
@login_required
def list_subscriptions():
    return {"subscriptions": SubscriptionSchema(many=True).dump(consent.list_subscriptions(g.user))}
