"""Helpers for the message-push tests: a push target, popup events, signed posts, counts."""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa

from backend.extensions import db
from backend.models import Subscription, User
from backend.wechat.crypto import signature
from tests.helpers import ONE_TIME
from wxemu.pusher import PushTarget, event_message, signed_request

TOKEN = "push-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
T1 = ONE_TIME["priTmplId"]
T2 = "tmpl-second"


def target(app, fmt="json", mode="plain", **overrides) -> PushTarget:
    fields = {
        "url": "/wechat/push",
        "token": TOKEN,
        "appid": app.config["WX_APPID"],
        "encoding_aes_key": AES_KEY,
        "format": fmt,
        "mode": mode,
        **overrides,
    }
    return PushTarget(**fields)


def popup(openid: str, *results: tuple[str, str], create_time: int = 1700000000) -> dict:
    items = [{"TemplateId": tid, "SubscribeStatusString": status, "PopupScene": 0} for tid, status in results]
    return event_message(openid, "subscribe_msg_popup_event", items, create_time)


def post(client, app, message, fmt="json", mode="plain", query_overrides=None, **target_overrides):
    query, body, content_type = signed_request(target(app, fmt, mode, **target_overrides), message)
    query.update(query_overrides or {})
    return client.post("/wechat/push", query_string=query, data=body.encode(), content_type=content_type)


def credits(app, openid: str, template_id: str = T1) -> int | None:
    with app.app_context():
        return db.session.scalar(
            sa.select(Subscription.remaining)
            .join(User, User.id == Subscription.user_id)
            .where(User.openid == openid, Subscription.template_id == template_id)
        )


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def signed_query(timestamp: str | None = None, token: str = TOKEN) -> dict[str, str]:
    """A plaintext-mode query as WeChat signs it (a fresh nonce each time)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = str(secrets.randbelow(10**9))
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature(token, timestamp, nonce)}


def post_raw(client, query: dict, body: bytes, content_type: str = "application/json"):
    return client.post("/wechat/push", query_string=query, data=body, content_type=content_type)
