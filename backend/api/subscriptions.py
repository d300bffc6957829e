"""`/api/v1/subscriptions`: what the user's subscribe popups returned, and the credits left."""

from flask import Blueprint, g

from backend.api.guards import current_user_id, login_required, rate_limit
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import BEARER, doc, error
from backend.api.schemas.common import dump
from backend.api.schemas.subscriptions import SubscriptionListSchema, SubscriptionReportSchema
from backend.consent import device_subscriptions, reports
from backend.errors import RateLimited, WrongTemplateKind
from backend.infra.idempotency import Replay

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v1")


def _answer_from_report(effect: dict) -> Replay:
    """A retry of a committed report: the subscriptions of the templates it reported, as they are."""
    if "device" in effect:  # a device popup's report: the subscriptions on that device
        device = effect["device"]
        on_device = {
            sub.template_id: sub for sub in device_subscriptions.list_subscriptions(g.user) if sub.device == device
        }
        reported = [on_device[t] for t in effect["templates"] if t in on_device]
    else:
        by_template = {subscription.template_id: subscription for subscription in reports.list_subscriptions(g.user)}
        reported = [by_template[t] for t in effect["templates"] if t in by_template]
    return Replay(200, dump(SubscriptionListSchema, reported))


@bp.post("/subscriptions")
@login_required
@rate_limit("reports", "RATE_LIMIT_REPORTS", current_user_id)
@idempotent(_answer_from_report, lease=False)
@doc(
    200,
    SubscriptionListSchema,
    body=SubscriptionReportSchema,
    auth=BEARER,
    idempotent=True,
    errors=[
        error(
            WrongTemplateKind,
            when="A device template reported without `device`, or a template that is not one with it.",
        ),
        RateLimited,
    ],
)
def create_report(body: dict):
    """Report what one `wx.requestSubscribeMessage` popup returned.

    Each `accept` of a one-time template adds a send credit; `reject` records the choice and
    keeps earlier credits. When message push is configured, WeChat's own popup event is the
    authority for credits and a report only records the choice. The user comes from the
    session token. The answer lists the subscriptions of the templates reported.

    A device popup (`wx.requestSubscribeDeviceMessage`, at most 3 device templates) is
    reported with `device: {model_id, sn}`: each `accept` or `acceptWithAudio` (an accept with
    a voice reminder, `audio: true`) subscribes the user on that device until revoked.
    """
    if "device" in body:  # a device popup's (docs/wechat.md §11): results are (choice, audio)
        device = body["device"]
        return device_subscriptions.record_report(
            g.mini_program, g.user, body["results"], device["model_id"], device["sn"], body["scene"], held_key()
        )
    device_subscriptions.refuse_device_templates(g.mini_program, body["results"])  # they go with `device`
    return reports.record_report(g.mini_program, g.user, body["results"], body["scene"], held_key())


@bp.get("/subscriptions")
@login_required
@doc(200, SubscriptionListSchema, auth=BEARER)
def list_subscriptions():
    """Every template the user has reported on, with the credits left.

    Device subscriptions (one per template and device) carry `device` and `audio`."""
    return reports.list_subscriptions(g.user) + device_subscriptions.list_subscriptions(g.user)
