"""`/api/v1/batches`: one template to many users, delivered by workers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, request

from backend.api.guards import api_key_required, json_body
from backend.api.idempotency import held_key, idempotent
from backend.api.openapi import API_KEY, CURSOR, doc, error, query
from backend.api.pagination import paginate
from backend.api.schemas import BatchMessagePageSchema, BatchSchema, BatchSendSchema, load
from backend.consent import device_subscriptions
from backend.errors import InvalidRequest, InvalidTemplateData, NotFound, WrongTemplateKind
from backend.extensions import db
from backend.infra.idempotency import Replay
from backend.models import Batch, Message
from backend.sending import batches

bp = Blueprint("batches", __name__, url_prefix="/api/v1")


def _batch_body(batch: Batch) -> dict:
    return BatchSchema().dump({"batch": batch, "counts": batches.batch_counts(batch.id)})


def _get_batch(batch_id: str) -> Batch:
    batch = db.session.scalar(sa.select(Batch).where(Batch.public_id == batch_id, Batch.app_id.in_(g.apps)))
    if batch is None:
        raise NotFound("No batch with that id.")
    return batch


def _answer_from_batch(effect: dict) -> Replay | None:
    """A retry after the first request committed its batch but never answered: its 202."""
    batch = db.session.scalar(sa.select(Batch).where(Batch.public_id == effect["batch"]))
    return Replay(202, _batch_body(batch)) if batch else None


@bp.post("/batches")
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
@api_key_required
@idempotent(_answer_from_batch)
def create_batch():
    """Send one template to many users (up to 10,000).

    The values are validated up front; consent is checked per message at delivery, which
    goes on after the answer. With `send_at` the messages are `scheduled` until then, and each
    can be canceled (`DELETE /api/v1/messages/{message_id}`).
    """
    body = load(BatchSendSchema, json_body())
    body.pop("appid", None)  # settled by the key's guard (g.app); the batch is written with it
    device_subscriptions.refuse_device_templates(g.mini_program, [body["template_id"]])  # they go to /device-messages
    batch = batches.create_batch(g.mini_program, batches.BatchRequest(**body), held_key())
    return _batch_body(batch), 202


@bp.get("/batches/<batch_id>")
@doc(200, BatchSchema, auth=API_KEY, errors=[error(NotFound, when="No batch with that id.")])
@api_key_required
def get_batch(batch_id: str):
    """A batch's progress: its status and its messages counted by outcome."""
    return _batch_body(_get_batch(batch_id))


@bp.get("/batches/<batch_id>/messages")
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
@api_key_required
def list_batch_messages(batch_id: str):
    """A batch's messages with their outcomes, a page at a time."""
    batch = _get_batch(batch_id)
    query = sa.select(Message).where(Message.batch_id == batch.id)
    wanted = request.args.get("outcome")
    if wanted in batches.OPEN_STATUSES + batches.FINAL_OUTCOMES:
        query = query.where(Message.status == wanted)
    elif wanted:
        query = query.where(Message.status == "failed", Message.outcome == wanted)
    return paginate(query, Message.id, _item)


def _item(message: Message) -> dict:
    return {
        "id": message.public_id,
        "appid": message.app_id,
        "user_id": message.user_id,
        "openid": message.openid,
        "outcome": batches.outcome(message),
        "errcode": message.errcode,
    }
