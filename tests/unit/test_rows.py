"""The one message-row builder (backend/sending/rows.py), with no app and no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from backend.models import Message
from backend.sending.rows import message_row
from backend.states import MessageStatus, Outcome

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Program:
    appid: str
    miniprogram_state: str


SHOP, STAFF = Program("wxshop", "formal"), Program("wxstaff", "trial")


def row(program: Program = SHOP, **given):
    fields = {"template_id": "T1", "data": {"thing1": "x"}, "user_id": 7, "openid": "o-7", "now": NOW}
    return message_row(program, **{"status": MessageStatus.QUEUED, **fields, **given})


def test_a_row_names_every_column_but_the_id():
    columns = {column.key for column in Message.__table__.c} - {"id"}
    assert set(row()) == columns


def test_the_state_is_the_requests_else_its_own_mini_programs():
    assert row(SHOP)["miniprogram_state"] == "formal"
    assert row(STAFF)["miniprogram_state"] == "trial"
    assert row(STAFF, miniprogram_state="developer")["miniprogram_state"] == "developer"
    assert row(STAFF)["app_id"] == "wxstaff"


def test_the_language_is_the_requests_else_chinese():
    assert row()["lang"] == "zh_CN"
    assert row(lang="en_US")["lang"] == "en_US"


@pytest.mark.parametrize(
    ("status", "claimed"),
    [(MessageStatus.SENDING, NOW), (MessageStatus.QUEUED, None), (MessageStatus.SCHEDULED, None)],
)
def test_only_a_message_sent_now_is_claimed_as_it_is_written(status, claimed):
    written = row(status=status)
    assert written["claimed_at"] == claimed
    assert written["status"] == status and written["attempts"] == 0
    assert written["created_at"] == written["updated_at"] == NOW


def test_a_new_row_holds_no_answer_of_wechat():
    written = row()
    assert [written[name] for name in ("errcode", "errmsg", "wechat_msgid", "delivery_status", "sent_at")] == [None] * 5


def test_each_row_has_its_own_public_id():
    first, second = row(), row()
    assert first["public_id"].startswith("msg_") and first["public_id"] != second["public_id"]


def test_a_failed_batch_recipient_and_a_device_message():
    failed = row(status=MessageStatus.FAILED, outcome=Outcome.USER_NOT_FOUND, user_id=None, batch_id=3)
    assert (failed["status"], failed["outcome"], failed["user_id"], failed["batch_id"]) == (
        "failed",
        "user_not_found",
        None,
        3,
    )
    device = row(model_id="washer", sn="SN-1")
    assert (device["model_id"], device["sn"]) == ("washer", "SN-1")
