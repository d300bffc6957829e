"""How a device message's delivery differs from an ordinary one's (docs/wechat.md §11).

`sending/single.py` and `delivery/outbox.py` deliver every message of the outbox; a
message with a `model_id` and an `sn` is a device message, and these three steps are its own:

- the claim checks the recipient's device subscription instead of spending a credit (a device
  subscription is long-term: there is nothing to spend);
- the call is the device send, to a one-element `to_openid_list`, so that WeChat's answer is
  this recipient's (§11d: every recipient of one call is checked before anyone gets it);
- 43101 ends that one device subscription, no other (§11c).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from backend.consent import device_subscriptions
from backend.models import DeviceSubscription, Message
from backend.states import SubscriptionStatus


def is_device_message(message: Message) -> bool:
    # Read without loading: the send path builds its detached Message from the row it wrote,
    # which for an ordinary message need not name model_id (an unloaded attribute would raise).
    return message.__dict__.get("model_id") is not None


def subscribed(messages: Iterable[Message], session) -> set[int]:
    """The ids of these device messages whose recipient's subscription is still active."""
    wanted = {(m.user_id, m.template_id, m.model_id, m.sn): m.id for m in messages}
    if not wanted:
        return set()
    table = DeviceSubscription.__table__
    rows = session.execute(
        sa.select(table.c.user_id, table.c.template_id, table.c.model_id, table.c.sn).where(
            table.c.user_id.in_(sorted({key[0] for key in wanted})),
            table.c.template_id.in_(sorted({key[1] for key in wanted})),
            table.c.status == SubscriptionStatus.ACCEPT,
        )
    ).all()
    return {wanted[tuple(row)] for row in rows if tuple(row) in wanted}


def call_wechat(client, message: Message) -> None:
    """The device send for one recipient; WeChat gives no msgid (§11c)."""
    client.device.send(
        [message.openid],
        message.template_id,
        message.model_id,
        message.sn,
        message.data,
        page=message.page,
        miniprogram_state=message.miniprogram_state,
        lang=message.lang,
    )


def refused(message: Message) -> None:
    """43101 for a device message: the recipient's subscription on this device ends."""
    device_subscriptions.revoke(
        message.app_id,
        message.user_id,
        message.template_id,
        message.model_id,
        message.sn,
        source="send",
        detail={"message_id": message.public_id},
    )
