"""`/api/v1/messages`: business code sends one subscribe message, and reads its record."""

import sqlalchemy as sa
from flask import Blueprint, request

from backend.api.guards import api_key_required, json_body
from backend.api.idempotency import idempotent
from backend.api.pagination import paginate
from backend.errors import NotFound
from backend.extensions import db
from backend.models import Message
from backend.schemas import MessageSchema, SendSchema, load
from backend.services.sending import SendRequest, send_message

bp = Blueprint("messages", __name__, url_prefix="/api/v1")


@bp.post("/messages")
@api_key_required
@idempotent
def create_message():
    result = send_message(SendRequest(**load(SendSchema(), json_body())))
    message = result.message
    body = {
        "id": message.public_id,
        "status": message.status,
        "template_id": message.template_id,
        "user_id": message.user_id,
        "remaining": result.remaining,
    }
    if message.wechat_msgid is not None:
        body["wechat_msgid"] = message.wechat_msgid
    return body, 201


@bp.get("/messages")
@api_key_required
def list_messages():
    """Operators' view, e.g. `?status=unknown`: messages WeChat may or may not have delivered."""
    query = sa.select(Message)
    if request.args.get("status"):
        query = query.where(Message.status == request.args["status"])
    return paginate(query, Message.id, MessageSchema().dump)


@bp.get("/messages/<message_id>")
@api_key_required
def get_message(message_id: str):
    message = db.session.scalar(sa.select(Message).where(Message.public_id == message_id))
    if message is None:
        raise NotFound("No message with that id.")
    return MessageSchema().dump(message)
