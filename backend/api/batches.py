"""`/api/v1/batches`: one template to many users, delivered by workers."""

from __future__ import annotations

from flask import Blueprint, g, request

from backend.api.guards import api_key_required
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import API_KEY, CURSOR, doc, error, query
from backend.api.pagination import requested_page
from backend.api.schemas.batches import BatchMessagePageSchema, BatchSchema, BatchSendSchema
from backend.api.schemas.common import dump
from backend.consent import device_subscriptions
from backend.errors import InvalidRequest, InvalidTemplateData, NotFound, WrongTemplateKind
from backend.infra.idempotency import Replay
from backend.sending import batches, queries

bp = Blueprint("batches", __name__, url_prefix="/api/v1")


def _answer_from_batch(effect: dict) -> Replay | None:
    """A retry after the first request committed its batch but never answered: its 202."""
    batch = queries.batch_left_by(effect["batch"])
    return Replay(202, dump(BatchSchema, queries.progress(batch))) if batch else None


@bp.post("/batches")
@api_key_required
@idempotent(_answer_from_batch)
@doc(
    202,
    BatchSchema,
    body=BatchSendSchema,
    auth=API_KEY,
    idempotent=True,
    errors=[
        error(
            InvalidTemplateData,
            when="A value breaks its keyword type's rule: the whole batch is refused, `details` naming "
            "the recipient's index and the key.",
        ),
        error(WrongTemplateKind, when="A device template: those go to `POST /api/v1/device-messages`."),
    ],
)
def create_batch(body: dict):
    """Send one template to many users (up to 10,000).

    The values are validated up front; consent is checked per message at delivery, which
    goes on after the answer. With `send_at` the messages are `scheduled` until then, and each
    can be canceled (`DELETE /api/v1/messages/{message_id}`).
    """
    body.pop("appid", None)  # settled by the key's guard (g.mini_program); the batch is written with it
    device_subscriptions.refuse_device_templates(g.mini_program, [body["template_id"]])  # they go to /device-messages
    batch = batches.create_batch(g.mini_program, batches.BatchRequest(**body), held_key())
    return queries.progress(batch)


@bp.get("/batches/<batch_id>")
@api_key_required
@doc(200, BatchSchema, auth=API_KEY, errors=[error(NotFound, when="No batch with that id.")])
def get_batch(batch_id: str):
    """A batch's progress: its status and its messages counted by outcome."""
    return queries.progress(queries.batch(g.apps, batch_id))


@bp.get("/batches/<batch_id>/messages")
@api_key_required
@doc(
    200,
    BatchMessagePageSchema,
    auth=API_KEY,
    params=[
        query(
            "outcome",
            "Only messages with this outcome: `scheduled`, `queued`, `sending`, `sent`, `unknown`, `canceled`, "
            "or a failed message's error code (e.g. `consent_required`).",
        ),
        CURSOR,
    ],
    errors=[InvalidRequest, error(NotFound, when="No batch with that id.")],
)
def list_batch_messages(batch_id: str):
    """A batch's messages with their outcomes, a page at a time."""
    batch = queries.batch(g.apps, batch_id)
    return queries.batch_messages(batch, request.args.get("outcome"), *requested_page())
