"""`/api/v1/batches`: one template to many users, delivered by workers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, request

from backend.api.guards import api_key_required, json_body
from backend.api.idempotency import idempotent
from backend.api.pagination import paginate
from backend.errors import NotFound
from backend.extensions import db
from backend.models import Batch, Message
from backend.schemas import BatchSchema, BatchSendSchema, load
from backend.services import batches

bp = Blueprint("batches", __name__, url_prefix="/api/v1")


def _batch_body(batch: Batch) -> dict:
    return BatchSchema().dump({"batch": batch, "counts": batches.batch_counts(batch.id)})


def _get_batch(batch_id: str) -> Batch:
    batch = db.session.scalar(sa.select(Batch).where(Batch.public_id == batch_id))
    if batch is None:
        raise NotFound("No batch with that id.")
    return batch


@bp.post("/batches")
@api_key_required
@idempotent
def create_batch():
    batch = batches.create_batch(batches.BatchRequest(**load(BatchSendSchema(), json_body())))
    return _batch_body(batch), 202


@bp.get("/batches/<batch_id>")
@api_key_required
def get_batch(batch_id: str):
    return _batch_body(_get_batch(batch_id))


@bp.get("/batches/<batch_id>/messages")
@api_key_required
def list_batch_messages(batch_id: str):
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
        "user_id": message.user_id,
        "openid": message.openid,
        "outcome": batches.outcome(message),
        "errcode": message.errcode,
    }
