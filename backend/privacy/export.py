"""Everything held about one person, as one JSON document (PIPL art. 45; docs/api.md "Personal data").

The session key is left out: it is WeChat's secret for the session, not something about the
person, and handing it out would let anyone who reads the export decrypt their data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backend.extensions import db
from backend.models import (
    ConsentEvent,
    DeviceBinding,
    DeviceSubscription,
    Message,
    Subscription,
    User,
    WebhookEvent,
    utcnow,
)
from backend.privacy.erasure import iso, naming
from backend.users import personal

EXPORT_KEYS = (
    "user",
    "subscriptions",
    "device_subscriptions",
    "device_bindings",
    "consent_events",
    "messages",
    "webhook_events",
    "exported_at",
)


def export(user: User) -> dict[str, Any]:
    """The export of `user` (of any app the caller may act for; the caller checked)."""
    user_fields = ("id", "app_id", "openid", "unionid", "external_id")
    document: dict[str, Any] = {
        "user": {
            **{name: getattr(user, name) for name in user_fields},
            "phone_number": personal.phone_of(user),  # stored sealed: the person gets it in clear
            "country_code": user.country_code,
            "created_at": iso(user.created_at),
            "erased_at": iso(user.erased_at),
        },
        "subscriptions": _rows(
            sa.select(Subscription).where(Subscription.user_id == user.id).order_by(Subscription.id),
            ("template_id", "kind", "status", "remaining", "client_status", "created_at", "updated_at"),
        ),
        "device_subscriptions": _rows(
            sa.select(DeviceSubscription).where(DeviceSubscription.user_id == user.id).order_by(DeviceSubscription.id),
            ("template_id", "model_id", "sn", "status", "audio", "created_at", "updated_at"),
        ),
        "device_bindings": _rows(
            sa.select(DeviceBinding).where(DeviceBinding.user_id == user.id).order_by(DeviceBinding.id),
            ("model_id", "sn", "created_at"),
        ),
        "consent_events": _rows(
            sa.select(ConsentEvent).where(ConsentEvent.user_id == user.id).order_by(ConsentEvent.id),
            ("template_id", "source", "result", "scene", "credits_delta", "detail", "created_at"),
        ),
        "messages": _rows(
            sa.select(Message).where(Message.user_id == user.id).order_by(Message.id),
            ("public_id", "template_id", "data", "page", "status", "outcome", "errcode", "created_at", "sent_at"),
            rename={"public_id": "id"},
        ),
        "webhook_events": _rows(
            sa.select(WebhookEvent)
            .where(WebhookEvent.app == user.app_id, naming(WebhookEvent.payload, user))
            .order_by(WebhookEvent.created_at),
            ("id", "type", "status", "payload", "created_at"),
        ),
        "exported_at": iso(utcnow()),
    }
    return document


def _rows(query: sa.Select, names: tuple[str, ...], rename: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rename = rename or {}
    return [{rename.get(name, name): _plain(getattr(row, name)) for name in names} for row in db.session.scalars(query)]


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value
