"""The one message-row builder: every send (now, later, batch, device) writes its outbox row here.

A row names every column of `messages`, so the detached `Message` built from it reads nothing
back from the database. The rules that every path shares live here once:
- the WeChat version a message opens (`miniprogram_state`): the request's, else its mini
  program's own (WX_APPS_FILE or WX_MINIPROGRAM_STATE), never another app's;
- the language: the request's, else zh_CN (WeChat's default);
- a new row has made no attempt and holds no WeChat answer.
It imports no database session: tests/unit builds rows without an app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from backend.models import Message, new_public_id
from backend.states import MessageStatus

DEFAULT_LANG = "zh_CN"
_COLUMNS = tuple(column.key for column in Message.__table__.c if column.key != "id")


class HasState(Protocol):
    """What the builder needs of a mini program: its appid and its default WeChat version."""

    appid: str
    miniprogram_state: str


def message_row(
    mini_program: HasState,
    *,
    template_id: str,
    data: dict[str, Any],
    user_id: int | None,
    openid: str | None,
    status: MessageStatus,
    now: datetime,
    page: str | None = None,
    miniprogram_state: str | None = None,
    lang: str | None = None,
    batch_id: int | None = None,
    send_at: datetime | None = None,
    model_id: str | None = None,
    sn: str | None = None,
    outcome: str | None = None,
    wait_until: datetime | None = None,
) -> dict[str, Any]:
    """The outbox row of one message of `mini_program`, every column named (`id` aside).

    `status`: `sending` (sent now: the credit is spent with the row), `queued` or `scheduled`
    (delivered later: spent at the claim), or `failed` with `outcome` (a batch recipient with no user).
    `model_id` and `sn` make it a device message (docs/wechat.md §11c). `wait_until`: held
    without a credit until then (`if_no_credit: "wait"`, consent/held.py) instead of refused.
    """
    return dict.fromkeys(_COLUMNS) | {
        "public_id": new_public_id("msg"),
        "app_id": mini_program.appid,
        "batch_id": batch_id,
        "user_id": user_id,
        "openid": openid,
        "template_id": template_id,
        "model_id": model_id,
        "sn": sn,
        "data": data,
        "page": page,
        "miniprogram_state": miniprogram_state or mini_program.miniprogram_state,
        "lang": lang or DEFAULT_LANG,
        "status": status,
        "outcome": outcome,
        "attempts": 0,
        # A message sent now is claimed by its own request as it is written.
        "claimed_at": now if status == MessageStatus.SENDING else None,
        "send_at": send_at,
        "wait_until": wait_until,
        "credit_reserved": False,
        "created_at": now,
        "updated_at": now,
    }
