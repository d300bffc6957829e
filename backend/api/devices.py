"""Device subscribe messages (docs/wechat.md §11): the ticket the mini program's device page
needs, and the device send business code (a device's own server) calls."""

import sqlalchemy as sa
from flask import Blueprint, g

from backend.api.guards import api_key_required, current_user_id, json_body, login_required, rate_limit
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import API_KEY, BEARER, doc, error
from backend.api.schemas import (
    DeviceMessageItemSchema,
    DeviceSendResultSchema,
    DeviceSendSchema,
    SnTicketRequestSchema,
    SnTicketSchema,
    load,
)
from backend.consent import sn_tickets
from backend.errors import (
    InvalidRequest,
    InvalidTemplateData,
    RateLimited,
    TemplateBanned,
    WeChatUnavailable,
    WrongTemplateKind,
)
from backend.extensions import db
from backend.infra.idempotency import Replay
from backend.models import Batch
from backend.sending import batches, device_messages

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
    ticket, expires_in = sn_tickets.sn_ticket(g.mini_program, body["model_id"], body["sn"])
    return {"sn_ticket": ticket, "expires_in": expires_in}


def _sent_body(batch: Batch, inline: bool, skipped: list[dict]) -> tuple[dict, int]:
    """201 with every message's outcome when delivered in the request; 202 with the batch's counts."""
    body = {"id": batch.public_id, "appid": batch.app_id, "status": batch.status, "skipped": skipped}
    if inline:
        body["messages"] = DeviceMessageItemSchema(many=True).dump(device_messages.messages_of(batch))
        return body, 201
    return {**body, "total": batch.total, "counts": batches.batch_counts(batch.id)}, 202


def _answer_from_send(effect: dict) -> Replay | None:
    """A retry after the first request committed its send: the send as it stands now."""
    batch = db.session.scalar(sa.select(Batch).where(Batch.public_id == effect["batch"]))
    if batch is None:
        return None
    body, status = _sent_body(batch, effect["inline"], effect["skipped"])
    return Replay(status, body)


@bp.post("/device-messages")
@doc(
    201,
    DeviceSendResultSchema,
    body=DeviceSendSchema,
    auth=API_KEY,
    idempotent=True,
    errors=[
        error(
            WrongTemplateKind,
            when="The template is not a device template of this mini program (an ordinary one goes to "
            "`POST /api/v1/messages`); nothing was sent.",
        ),
        error(
            InvalidTemplateData,
            when="A keyword is missing or its value is not one of the template's enum values; nothing was sent.",
        ),
        TemplateBanned,
    ],
)
@api_key_required
@idempotent(_answer_from_send)
def create_device_message():
    """Send a device message to the subscribers of one device.

    Without `recipients`, everyone whose subscription to the template on this (model_id, sn) is
    active. Each recipient with an active subscription gets a message of their own (one WeChat
    call each, so every outcome is known per person: `consent_revoked` for 43101, which ends
    that subscription, `wechat_rejected` with errcode 9800006 when WeChat holds the user's
    subscription for another device); the others are listed in `skipped` and cost nothing.
    Up to 100 messages are delivered before the answer (201); more run as a batch (202): follow
    `GET /api/v1/batches/{batch_id}`.
    """
    body = load(DeviceSendSchema, json_body())
    body.pop("appid", None)  # settled by the key's guard (g.mini_program); the messages are written with it
    result = device_messages.send_device_message(g.mini_program, device_messages.DeviceSendRequest(**body), held_key())
    return _sent_body(result.batch, result.inline, result.skipped)
