"""`/api/v1/devices`: what the mini program's device page needs (docs/wechat.md §11)."""

from flask import Blueprint, g

from backend.api.guards import current_user_id, json_body, login_required, rate_limit
from backend.errors import InvalidRequest, RateLimited, WeChatUnavailable
from backend.openapi import BEARER, doc, error
from backend.schemas import SnTicketRequestSchema, SnTicketSchema, load
from backend.services import devices

bp = Blueprint("devices", __name__, url_prefix="/api/v1")


@bp.post("/devices/sn-ticket")
@doc(
    200,
    SnTicketSchema,
    body=SnTicketRequestSchema,
    auth=BEARER,
    errors=[
        error(InvalidRequest, status=422, when="WeChat does not accept the sn or model_id (9800001-9800003)."),
        RateLimited,
        WeChatUnavailable,
    ],
)
@login_required
@rate_limit("sn_tickets", "RATE_LIMIT_REPORTS", current_user_id)
def create_sn_ticket():
    """Get the sn_ticket for one device's subscribe popup.

    Pass it to `wx.requestSubscribeDeviceMessage` as `snTicket`, with the same `modelId` and
    `sn`. A ticket is valid 5 minutes for that device and any user; the same one is handed
    out again while it has at least a minute left. A `sn` or `model_id` WeChat does not
    accept is 422 `invalid_request` naming the field.
    """
    body = load(SnTicketRequestSchema, json_body())
    ticket, expires_in = devices.sn_ticket(g.app, body["model_id"], body["sn"])
    return {"sn_ticket": ticket, "expires_in": expires_in}
