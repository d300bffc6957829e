"""`POST /api/v1/device-messages`: a device tells its subscribers (docs/wechat.md §11c).

1. The template must be a device template, the values each one of its enum values: checked
   before anything is written or sent (422, no WeChat call).
2. The recipients (the caller's, or everyone subscribed to the template on this device) with
   an active device subscription get one outbox row each; the others are `skipped` as
   `consent_required` (or `user_not_found`) and cost nothing.
3. The rows are one batch (its id is the send's id) delivered by the claim and delivery code
   of every batch (delivery/outbox.py): up to INLINE_MAX messages in this request (201,
   every outcome known), more by the queue's workers (202, follow `GET /api/v1/batches/<id>`).
   Each message is one device send to one openid, so WeChat's answer is that person's.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from backend import errors
from backend.apps import MiniProgram
from backend.consent import device_bindings, device_subscriptions
from backend.db import work
from backend.delivery import outbox
from backend.extensions import db
from backend.infra import idempotency
from backend.models import Batch, Message, Template, User, utcnow
from backend.sending.batches import enqueue_batch
from backend.sending.rows import message_row
from backend.sending.single import deliver
from backend.states import BatchStatus, MessageStatus, Outcome
from backend.templates.catalog import refuse_if_banned

log = logging.getLogger(__name__)

INLINE_MAX = 100  # messages delivered within the request; more run as a batch (202)


@dataclass
class DeviceSendRequest:
    template_id: str
    model_id: str
    sn: str
    data: dict[str, Any]
    recipients: list[dict[str, Any]] | None = None
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None


@dataclass
class DeviceSendResult:
    batch: Batch
    inline: bool  # delivered in the request: every message's outcome is known
    skipped: list[dict[str, Any]] = field(default_factory=list)


def check_enum_values(template: Template, data: dict[str, Any]) -> dict[str, str]:
    """Every keyword of the template given, each value exactly one of its enum values (§11: a
    device template's values are platform-made enums); InvalidTemplateData naming each key."""
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    keys = [keyword["key"] for keyword in template.keywords]
    for key in keys:
        given = data.get(key)
        value = given.get("value") if isinstance(given, dict) else given
        allowed = template.enum_values.get(key) or []
        if value is None or value == "":
            problems[key] = "is required"
        elif not isinstance(value, str) or value not in allowed:
            problems[key] = "must be one of: " + ", ".join(allowed)
        else:
            values[key] = value
    for key in data:
        if key not in keys:
            problems[key] = "is not a keyword of this template"
    if problems:
        raise errors.InvalidTemplateData("Template data breaks WeChat's rules.", problems)
    return values


def _resolve(app_id: str, recipients: list[dict[str, Any]]) -> tuple[list[User], list[dict[str, Any]]]:
    """The users of `app_id` named (each once, in the caller's order) and the skipped unknown ones."""
    openids = sorted({r["openid"] for r in recipients if "openid" in r})
    user_ids = sorted({r["user_id"] for r in recipients if "user_id" in r})
    by_openid: dict[str, User] = {}
    by_id: dict[int, User] = {}
    for start in range(0, max(len(openids), len(user_ids)), 500):
        if openids[start : start + 500]:
            by_openid.update(
                (u.openid, u)
                for u in db.session.scalars(
                    sa.select(User).where(User.app_id == app_id, User.openid.in_(openids[start : start + 500]))
                )
            )
        if user_ids[start : start + 500]:
            by_id.update(
                (u.id, u)
                for u in db.session.scalars(
                    sa.select(User).where(
                        User.app_id == app_id,
                        User.id.in_(user_ids[start : start + 500]),
                        User.erased_at.is_(None),  # an erased person is nobody to tell: user_not_found
                    )
                )
            )
    users: dict[int, User] = {}
    unknown: list[dict[str, Any]] = []
    for recipient in recipients:
        user = by_openid.get(recipient["openid"]) if "openid" in recipient else by_id.get(recipient["user_id"])
        if user is None:
            unknown.append(
                {
                    "user_id": recipient.get("user_id"),
                    "openid": recipient.get("openid"),
                    "reason": Outcome.USER_NOT_FOUND,
                }
            )
        else:
            users.setdefault(user.id, user)
    return list(users.values()), unknown


def _audience(app_id: str, request: DeviceSendRequest) -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
    """(user id, openid) of each recipient of `app_id` to send to, and the skipped ones."""
    if request.recipients is None:
        # Without recipients, only the people bound to the device when bindings are required: a
        # subscription of anyone else came from before bindings were (or an unbind raced it).
        subscribed = device_subscriptions.active_users(
            app_id, request.template_id, request.model_id, request.sn, bound_only=device_bindings.required()
        )
        openids = {}
        for start in range(0, len(subscribed), 500):
            chunk = subscribed[start : start + 500]
            openids.update(db.session.execute(sa.select(User.id, User.openid).where(User.id.in_(chunk))).all())
        return [(user_id, openids[user_id]) for user_id in subscribed], []
    users, skipped = _resolve(app_id, request.recipients)
    user_ids = [u.id for u in users]
    active = set(device_subscriptions.active_users(app_id, request.template_id, request.model_id, request.sn, user_ids))
    for user in users:
        if user.id not in active:  # no WeChat call: without a subscription it would be 43101
            skipped.append({"user_id": user.id, "openid": user.openid, "reason": Outcome.CONSENT_REQUIRED})
    return [(user.id, user.openid) for user in users if user.id in active], skipped


def send_device_message(
    mini_program: MiniProgram, request: DeviceSendRequest, key: idempotency.Claim | None = None
) -> DeviceSendResult:
    """Validate, write one message per subscribed recipient, and deliver them (see the module)."""
    template = device_subscriptions.device_templates(mini_program, [request.template_id])[request.template_id]
    refuse_if_banned(mini_program.appid, request.template_id)
    values = check_enum_values(template, request.data)
    audience, skipped = _audience(mini_program.appid, request)
    now = utcnow()
    inline = len(audience) <= INLINE_MAX
    with work():
        batch = Batch(
            app_id=mini_program.appid, template_id=request.template_id, total=len(audience), status=BatchStatus.QUEUED
        )
        if not audience:
            batch.status, batch.finished_at = BatchStatus.DONE, now  # nobody to tell
        db.session.add(batch)
        db.session.flush()
        rows = [
            message_row(
                mini_program,
                template_id=request.template_id,
                data=values,
                user_id=user_id,
                openid=openid,
                status=MessageStatus.QUEUED,
                now=now,
                page=request.page,
                miniprogram_state=request.miniprogram_state,
                lang=request.lang,
                batch_id=batch.id,
                model_id=request.model_id,
                sn=request.sn,
            )
            for user_id, openid in audience
        ]
        if rows:
            db.session.execute(sa.insert(Message), rows)
        idempotency.record_effect(key, {"batch": batch.public_id, "skipped": skipped, "inline": inline})
    if inline:
        _deliver_now(mini_program, batch.id)
    else:
        _queue(batch)
    return DeviceSendResult(batch, inline, skipped)


def _deliver_now(mini_program: MiniProgram, batch_id: int) -> None:
    """Claim and deliver the batch's messages in this request, one after another: the same
    claim (the subscription checked again) and delivery as a worker's."""
    ids = list(db.session.scalars(sa.select(Message.id).where(Message.batch_id == batch_id).order_by(Message.id)))
    claimed, _ = outbox.claim_group(ids)
    for message in claimed:
        with contextlib.suppress(errors.ApiError):  # settled on the row: failed or unknown, with its errcode
            deliver(mini_program, message)
    outbox.finish_batch_if_done(batch_id)


def _queue(batch: Batch) -> None:
    """Hand a big send to the queue; if it can't take it now, the sweeper queues it later."""
    try:
        enqueue_batch(batch.id)
    except errors.ServiceUnavailable:
        log.warning("device send not queued yet: Redis is down", extra={"batch_id": batch.public_id})


def messages_of(batch: Batch) -> list[Message]:
    return list(db.session.scalars(sa.select(Message).where(Message.batch_id == batch.id).order_by(Message.id)))
