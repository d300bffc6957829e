"""Device subscribe messages (docs/wechat.md §11): the ticket the mini program's device page
needs, and the device send business code (a device's own server) calls."""

from flask import Blueprint, g

from backend.api.guards import api_key_required, current_user_id, login_required, rate_limit
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import API_KEY, BEARER, Answer, doc, error
from backend.api.schemas.common import dump
from backend.api.schemas.devices import (
    DeviceSendResultSchema,
    DeviceSendSchema,
    SnTicket,
    SnTicketRequestSchema,
    SnTicketSchema,
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
from backend.infra.idempotency import Replay
from backend.sending import device_messages, queries

bp = Blueprint("devices", __name__, url_prefix="/api/v1")


@bp.post("/devices/sn-ticket")
@login_required
@rate_limit("sn_tickets", "RATE_LIMIT_REPORTS", current_user_id)
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
def create_sn_ticket(body: dict):
    """Get the sn_ticket for one device's subscribe popup.

    Pass it to `wx.requestSubscribeDeviceMessage` as `snTicket`, with the same `modelId` and
    `sn`. A ticket is valid 5 minutes for that device and any user; the same one is handed
    out again while it has at least a minute left. A `sn` or `model_id` WeChat does not
    accept is 422 `invalid_request` naming the field.
    """
    return SnTicket(*sn_tickets.sn_ticket(g.mini_program, body["model_id"], body["sn"]))


def _answered(send: queries.DeviceSend) -> tuple[queries.DeviceSend, int]:
    """201 with every message's outcome when delivered in the request; 202 with the batch's counts."""
    return send, 201 if send.inline else 202


def _answer_from_send(effect: dict) -> Replay | None:
    """A retry after the first request committed its send: the send as it stands now."""
    batch = queries.batch_left_by(effect["batch"])
    if batch is None:
        return None
    send, status = _answered(queries.device_send(batch, effect["inline"], effect["skipped"]))
    return Replay(status, dump(DeviceSendResultSchema, send))


@bp.post("/device-messages")
@api_key_required
@idempotent(_answer_from_send)
@doc(
    201,
    DeviceSendResultSchema,
    body=DeviceSendSchema,
    auth=API_KEY,
    idempotent=True,
    also=[
        # Not in the document, which gives this operation one success answer (tests/test_openapi.py
        # holds it to that): the body is DeviceSendResult all the same, with total and counts.
        Answer(202, DeviceSendResultSchema, "Accepted: more than 100 messages run as a batch.", documented=False)
    ],
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
def create_device_message(body: dict):
    """Send a device message to the subscribers of one device.

    Without `recipients`, everyone whose subscription to the template on this (model_id, sn) is
    active. Each recipient with an active subscription gets a message of their own (one WeChat
    call each, so every outcome is known per person: `consent_revoked` for 43101, which ends
    that subscription, `wechat_rejected` with errcode 9800006 when WeChat holds the user's
    subscription for another device); the others are listed in `skipped` and cost nothing.
    Up to 100 messages are delivered before the answer (201); more run as a batch (202): follow
    `GET /api/v1/batches/{batch_id}`.
    """
    body.pop("appid", None)  # settled by the key's guard (g.mini_program); the messages are written with it
    result = device_messages.send_device_message(g.mini_program, device_messages.DeviceSendRequest(**body), held_key())
    return _answered(queries.device_send(result.batch, result.inline, result.skipped))
