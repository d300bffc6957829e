"""The ledger's statements (backend/consent/ledger.py) as SQL, compiled with no database.

The credit rules live in these statements, not in Python around them: one credit less only
where one is left, a refund only to one-time subscriptions, and (PostgreSQL) a send's reserve
writing its message and its audit row only when the credit was there. Reading the compiled SQL
pins the rules down where a reader of the module looks for them.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from backend.consent import ledger
from backend.sending import send_lock

DIALECTS = {"postgresql": postgresql.psycopg.dialect(), "sqlite": sqlite.dialect()}


def sql(statement, dialect: str = "postgresql") -> str:
    return re.sub(r"\s+", " ", str(statement.compile(dialect=DIALECTS[dialect])))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_spend_takes_one_credit_only_where_one_is_left(dialect):
    spend = sql(ledger._SPEND, dialect)
    assert spend.startswith("UPDATE subscriptions SET remaining=(subscriptions.remaining - ")
    assert "subscriptions.remaining > " in spend  # the condition that stops a second spend of one credit
    returned = r"RETURNING (subscriptions\.)?user_id, (subscriptions\.)?remaining, (subscriptions\.)?app_id$"
    assert re.search(returned, spend)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_refund_goes_to_one_time_subscriptions_only(dialect):
    refund = sql(ledger._REFUND, dialect)
    assert "SET remaining=(subscriptions.remaining + " in refund
    assert "subscriptions.kind = " in refund
    compiled = ledger._REFUND.compile(dialect=DIALECTS[dialect])
    assert "one_time" in compiled.params.values()


def test_zeroing_sets_no_credit_and_a_reject():
    compiled = ledger._ZERO.compile(dialect=DIALECTS["postgresql"])
    assert "remaining=" in str(compiled) and "reject" in compiled.params.values()
    assert compiled.params["remaining"] == 0


def test_a_reserve_writes_the_message_and_the_audit_row_from_the_spent_credit_only():
    reserve = sql(ledger._RESERVE)
    # The spend is a CTE; the message and the audit row select FROM it, so with no credit
    # left (the UPDATE matched nothing) neither is written.
    assert reserve.startswith("WITH spent AS (UPDATE subscriptions SET remaining=")
    message = r"message AS \(INSERT INTO messages \(user_id, .*\) SELECT spent\.user_id AS user_id, .* FROM spent"
    audit = r"audit AS \(INSERT INTO consent_events .* SELECT spent\.app_id AS app_id, spent\.user_id AS .* FROM spent"
    assert re.search(message, reserve) and re.search(audit, reserve)
    assert reserve.endswith("SELECT message.id, spent.remaining FROM spent JOIN message ON true")


def test_a_reserve_takes_the_recipients_turn_only_with_the_spent_credit():
    """The send's turn (sending/send_lock.py) rides on the reserve: taken FROM the spent row, so no
    credit means no turn; and by the lease rule (a free or run-out lease only)."""
    reserve = re.sub(r"::[A-Z]+( WITH TIME ZONE)?", "", sql(ledger._reserve_statement(send_lock.FoldedTurn)))
    turn = (
        r"turn_taken AS \(INSERT INTO send_leases \(appid, openid, token, expires_at\) SELECT .* FROM spent ON CONFLICT"
    )
    assert re.search(turn, reserve)
    assert "WHERE send_leases.expires_at < %(lease_now)s RETURNING send_leases.token" in reserve
    assert re.search(
        r"\(SELECT turn_taken.token FROM turn_taken\) AS anon_\d+ FROM spent JOIN message ON true$", reserve
    )


def test_a_settle_gives_the_turn_back_by_its_token_only():
    settle = re.sub(
        r"::[A-Z]+( WITH TIME ZONE)?",
        "",
        re.sub(r"\s+", " ", ledger._message_update(("status",), send_lock.FoldedTurn(_Turn())).sql),
    )
    assert settle.startswith("WITH turn_given_back AS (DELETE FROM send_leases WHERE send_leases.appid = ")
    assert "send_leases.token = %(lease_token)s" in settle and "UPDATE messages SET status=%(status)s" in settle


class _Turn:
    name, token, ttl = ("wx-app", "o-user"), "t", 30


def test_each_move_on_postgresql_writes_its_audit_rows_in_the_same_statement():
    spend = sql(ledger._with_audit_rows(ledger._SPEND))
    assert spend.startswith("WITH moved AS (UPDATE subscriptions SET remaining=")
    assert "audit AS (INSERT INTO consent_events" in spend and "FROM moved" in spend
