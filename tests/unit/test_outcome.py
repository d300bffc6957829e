"""A message's outcome, the one rule (states.message_outcome and Message.shown_outcome)."""

from __future__ import annotations

import pytest

from backend.models import Message
from backend.states import MessageStatus, Outcome, message_outcome


@pytest.mark.parametrize("status", [s for s in MessageStatus if s != MessageStatus.FAILED])
def test_a_message_that_did_not_fail_shows_its_status(status):
    assert message_outcome(status, None) == status
    assert message_outcome(status, Outcome.UNKNOWN) == status  # an outcome beside it changes nothing


@pytest.mark.parametrize("failure", list(Outcome))
def test_a_failed_message_shows_why(failure):
    assert message_outcome(MessageStatus.FAILED, failure) == failure


def test_the_model_shows_the_same_rule():
    message = Message(status=MessageStatus.FAILED, outcome=Outcome.CONSENT_REVOKED)
    assert message.shown_outcome == "consent_revoked"
    message.status, message.outcome = MessageStatus.SENT, None
    assert message.shown_outcome == "sent"


def test_in_sql_the_rule_is_the_same_case():
    sql = str(Message.shown_outcome.expression.compile(compile_kwargs={"literal_binds": True}))
    assert "CASE WHEN (messages.status = 'failed') THEN messages.outcome ELSE messages.status END" in sql
