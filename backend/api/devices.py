"""Device subscribe messages (docs/wechat.md §11): the ticket the mini program's device page
needs, the device send business code (a device's own server) calls, and the bindings that say
who may follow a device (consent/device_bindings.py)."""

from flask import Blueprint, g

from backend.api.guards import api_key_required, client_ip, current_user, current_user_id, login_required, rate_limit
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import API_KEY, BEARER, Answer, doc, error
from backend.api.schemas.common import DeviceSchema, dump, load
from backend.api.schemas.devices import (
    DeviceBindingCodeRequestSchema,
    DeviceBindingCodeSchema,
    DeviceBindingListSchema,
    DeviceBindingSchema,
    DeviceRedeemSchema,
    DeviceSendResultSchema,
    DeviceSendSchema,
    SnTicket,
    SnTicketRequestSchema,
    SnTicketSchema,
)
from backend.api.schemas.users import BindingCode
from backend.consent import device_bindings
from backend.errors import (
    BindingCodeInvalid,
    Forbidden,
    InvalidRequest,
    InvalidTemplateData,
    RateLimited,
    TemplateBanned,
    UserNotFound,
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
        error(Forbidden, when="With DEVICE_BINDING_REQUIRED: the user is not bound to this device."),
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

    With DEVICE_BINDING_REQUIRED (on outside dev mode) only a user bound to the device gets
    it (403 `forbidden` otherwise), and the hand-out is recorded: the device popup's report is
    believed only from a user handed the ticket within its lifetime.
    """
    return SnTicket(*device_bindings.ticket_for(g.mini_program, g.user.id, body["model_id"], body["sn"]))


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
    active (with DEVICE_BINDING_REQUIRED, of those bound to the device). Each recipient with an
    active subscription gets a message of their own (one WeChat call each, so every outcome is
    known per person: `consent_revoked` for 43101, which ends that subscription,
    `wechat_rejected` with errcode 9800006 when WeChat holds the user's subscription for another
    device); the others are listed in `skipped` and cost nothing.
    Up to 100 messages are delivered before the answer (201); more run as a batch (202): follow
    `GET /api/v1/batches/{batch_id}`.
    """
    body.pop("appid", None)  # settled by the key's guard (g.mini_program); the messages are written with it
    result = device_messages.send_device_message(g.mini_program, device_messages.DeviceSendRequest(**body), held_key())
    return _answered(queries.device_send(result.batch, result.inline, result.skipped))


NO_USER = error(UserNotFound, when="No user with that user_id (of the apps the key may act for).")


def _device(model_id: str, sn: str) -> tuple[str, str]:
    """The device named in the path, checked as in a body (400 naming the field)."""
    device = load(DeviceSchema, {"model_id": model_id, "sn": sn})
    return device["model_id"], device["sn"]


@bp.put("/devices/<model_id>/<sn>/users/<int:user_id>")
@api_key_required
@doc(200, DeviceBindingSchema, auth=API_KEY, errors=[NO_USER])
def bind_device_user(model_id: str, sn: str, user_id: int):
    """Bind a user to a device: they may then follow it (its sn_ticket, its popup, its messages).

    Idempotent: binding a bound user answers the same binding. The device belongs to the
    user's mini program.
    """
    return device_bindings.bind(g.apps, user_id, *_device(model_id, sn))


@bp.delete("/devices/<model_id>/<sn>/users/<int:user_id>")
@api_key_required
@doc(204, auth=API_KEY, errors=[NO_USER])
def unbind_device_user(model_id: str, sn: str, user_id: int):
    """Unbind a user from a device and revoke their device subscriptions for it.

    They get no more of its messages; nothing happens when they were not bound."""
    device_bindings.unbind(g.apps, user_id, *_device(model_id, sn))


@bp.get("/devices/<model_id>/<sn>/users")
@api_key_required
@doc(200, DeviceBindingListSchema, auth=API_KEY)
def list_device_users(model_id: str, sn: str):
    """The users bound to a device, oldest binding first (in each app the key may act for)."""
    return device_bindings.bound_users(g.apps, *_device(model_id, sn))


@bp.post("/device-binding-codes")
@api_key_required
@doc(201, DeviceBindingCodeSchema, body=DeviceBindingCodeRequestSchema, auth=API_KEY)
def create_device_binding_code(body: dict):
    """A single-use code that binds the device to whoever redeems it in the mini program.

    Print it as the device's QR code, or show it in the business app to the person setting the
    device up. It is shown once; only its hash is kept.
    """
    # Its appid settled g.mini_program (the key's guard).
    code = device_bindings.create_code(g.mini_program.appid, body["model_id"], body["sn"], body["expires_in"])
    return BindingCode(*code)


@bp.post("/me/devices")
@login_required
@doc(
    200,
    DeviceBindingSchema,
    body=DeviceRedeemSchema,
    auth=BEARER,
    errors=[
        BindingCodeInvalid,
        error(RateLimited, when="Too many wrong codes (of either kind) from this user or client IP in a minute."),
    ],
)
def redeem_device_binding_code(body: dict):
    """Redeem a device binding code: the logged-in user is bound to the code's device."""
    return device_bindings.redeem(current_user(), body["code"], client_ip())
