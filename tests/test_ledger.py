"""The ledger (consent/ledger.py): set-based moves, each with its audit row, and the statements they cost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from backend import errors
from backend.api.schemas import MessageSchema, SubscriptionSchema
from backend.consent import ledger
from backend.extensions import db
from backend.models import ConsentEvent, Message, Subscription, User, utcnow
from backend.states import EventResult, EventSource, MessageStatus, Outcome, SubscriptionStatus, TemplateKind
from tests.helpers import ENUM_TEMPLATE, LONG_TERM, ONE_TIME, Statements
from wxemu.defaults import DEV_APPID

T1, T2, T3 = ONE_TIME["priTmplId"], LONG_TERM["priTmplId"], ENUM_TEMPLATE["priTmplId"]


def on_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def make_users(count: int) -> list[int]:
    now = utcnow()
    rows = [
        {"app_id": DEV_APPID, "openid": f"o-ledger-{i}", "token_version": 0, "created_at": now, "updated_at": now}
        for i in range(count)
    ]
    db.session.execute(sa.insert(User), rows)
    return list(db.session.scalars(sa.select(User.id).where(User.openid.like("o-ledger-%")).order_by(User.id)))


def give(user_ids: list[int], template_id: str = T1, times: int = 1, kind: str = TemplateKind.ONE_TIME) -> None:
    for user_id in user_ids:
        for _ in range(times):
            ledger.current().grant(
                DEV_APPID,
                user_id,
                [ledger.Choice(template_id, kind, SubscriptionStatus.ACCEPT)],
                source=EventSource.CLIENT,
            )
    db.session.commit()


def remaining(user_id: int, template_id: str = T1) -> int | None:
    return db.session.scalar(
        sa.select(Subscription.remaining).where(
            Subscription.user_id == user_id, Subscription.template_id == template_id
        )
    )


def events(result: str) -> list[ConsentEvent]:
    return list(
        db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.result == result).order_by(ConsentEvent.id))
    )


def test_the_ledger_is_chosen_once_for_the_database(app):
    with app.app_context():
        expected = ledger.PostgresLedger if on_postgresql() else ledger.SqliteLedger
        assert type(ledger.current()) is expected
        assert ledger.current() is app.extensions["ledger"]


def test_spend_takes_one_credit_from_each_user_who_has_one_with_its_audit_row(app):
    with app.app_context():
        users = make_users(5)
        give(users[:3])
        give(users[:1])  # the first user has two
        spent = ledger.current().spend(T1, users)
        db.session.commit()
        assert spent == {users[0]: 1, users[1]: 0, users[2]: 0}
        assert [remaining(user) for user in users] == [1, 0, 0, None, None]
        audit = events(EventResult.SPENT)
        assert sorted(event.user_id for event in audit) == users[:3]
        assert {(e.source, e.template_id, e.credits_delta) for e in audit} == {(EventSource.SEND, T1, -1)}
        # Nothing left for these two: a second spend moves nothing and writes no audit row.
        assert ledger.current().spend(T1, users[1:3]) == {}
        db.session.commit()
        assert len(events(EventResult.SPENT)) == 3


def test_spend_costs_the_same_statements_for_one_user_or_fifty(app):
    with app.app_context():
        users = make_users(50)
        give(users)
        with Statements(db.engine) as one:
            assert len(ledger.current().spend(T1, users[:1])) == 1
        with Statements(db.engine) as fifty:
            assert len(ledger.current().spend(T1, users[1:])) == 49
        db.session.commit()
        # PostgreSQL: the UPDATE and its audit INSERT are one statement (a CTE); SQLite: two.
        assert len(one) == len(fifty) == (1 if on_postgresql() else 2)
        assert len(events(EventResult.SPENT)) == 50


def test_refund_gives_one_credit_back_to_one_time_subscriptions_only(app):
    with app.app_context():
        users = make_users(2)
        give(users[:1])
        give(users[1:], T2, kind=TemplateKind.LONG_TERM)
        assert ledger.current().refund(T1, users[:1], detail={"message_id": "msg_1"}) == {users[0]}
        assert ledger.current().refund(T2, users[1:]) == set()  # a long-term subscription counts nothing
        db.session.commit()
        assert remaining(users[0]) == 2
        [refund] = events(EventResult.REFUNDED)
        assert (refund.user_id, refund.credits_delta, refund.detail) == (users[0], 1, {"message_id": "msg_1"})


def test_zero_drops_every_credit_and_says_how_many_in_the_audit(app):
    with app.app_context():
        users = make_users(3)
        give(users[:1], times=3)
        give(users[1:2])
        dropped = ledger.current().zero(DEV_APPID, T1, users, kind=TemplateKind.ONE_TIME, source=EventSource.PUSH)
        db.session.commit()
        assert dropped == {users[0]: 3, users[1]: 1, users[2]: 0}
        subscriptions = db.session.scalars(sa.select(Subscription).order_by(Subscription.user_id)).all()
        # The third user had no row: it is created, refused, with nothing to drop.
        assert [(s.user_id, s.remaining, s.status) for s in subscriptions] == [(u, 0, "reject") for u in users]
        audit = {event.user_id: event.credits_delta for event in events(EventResult.REVOKED)}
        assert audit == {users[0]: -3, users[1]: -1, users[2]: 0}
        granted = db.session.scalar(sa.select(sa.func.sum(ConsentEvent.credits_delta)))
        assert granted == 0  # the audit adds up to the credits: 4 granted, 4 dropped


def test_grant_records_each_choice_and_mints_only_one_time_accepts(app):
    with app.app_context():
        [user] = make_users(1)
        choices = [
            ledger.Choice(T1, TemplateKind.ONE_TIME, SubscriptionStatus.ACCEPT),
            ledger.Choice(T2, TemplateKind.LONG_TERM, SubscriptionStatus.ACCEPT),
            ledger.Choice(T3, TemplateKind.ONE_TIME, SubscriptionStatus.REJECT),
        ]
        rows = ledger.current().grant(DEV_APPID, user, choices, source=EventSource.CLIENT, scene="checkout")
        db.session.commit()
        assert {row.template_id: (row.status, row.remaining, row.client_status) for row in rows} == {
            T1: ("accept", 1, "accept"),
            T2: ("accept", 0, "accept"),
            T3: ("reject", 0, "reject"),
        }
        # Not minting (pushes are the authority): the report is kept apart, nothing moves.
        [row] = ledger.current().grant(
            DEV_APPID,
            user,
            [ledger.Choice(T1, TemplateKind.ONE_TIME, SubscriptionStatus.REJECT)],
            source="client",
            mint=False,
        )
        db.session.commit()
        assert (row.status, row.remaining, row.client_status) == ("accept", 1, "reject")
        audit = db.session.execute(
            sa.select(
                ConsentEvent.template_id, ConsentEvent.result, ConsentEvent.credits_delta, ConsentEvent.scene
            ).order_by(ConsentEvent.id)
        ).all()
        assert [tuple(row) for row in audit] == [
            (T1, "accept", 1, "checkout"),
            (T2, "accept", 0, "checkout"),
            (T3, "reject", 0, "checkout"),
            (T1, "reject", 0, None),
        ]


def test_credit_metrics_count_committed_moves_only(app):
    def spent_total() -> float:
        return REGISTRY.get_sample_value("wxsub_credits_total", {"appid": DEV_APPID, "change": "spent"}) or 0.0

    with app.app_context():
        users = make_users(3)
        give(users)
        before = spent_total()
        ledger.current().spend(T1, users)
        db.session.rollback()
        assert spent_total() == before
        assert [remaining(user) for user in users] == [1, 1, 1]
        ledger.current().spend(T1, users)
        assert spent_total() == before  # not yet committed
        db.session.commit()
        assert spent_total() == before + 3


def test_a_report_is_one_short_transaction(app, client, user, templates, monkeypatch):
    monkeypatch.setattr("backend.infra.idempotency._next_purge", float("inf"))  # old keys' purge: not now
    results = {T1: "accept", T2: "accept", T3: "reject"}
    assert client.post("/api/v1/subscriptions", json={"results": results}, headers=user.auth).status_code == 200
    with app.app_context():
        engine = db.engine
    with Statements(engine) as seen:
        response = client.post(
            "/api/v1/subscriptions", json={"results": results}, headers={**user.auth, "Idempotency-Key": "report-1"}
        )
    assert response.status_code == 200, response.json
    assert {sub["template_id"]: sub["remaining"] for sub in response.json["subscriptions"]} == {T1: 2, T2: None, T3: 0}
    # The credits with their audit rows (PostgreSQL: one statement; SQLite: two), then the key's record.
    writes = seen.writes()
    if engine.dialect.name == "postgresql":
        assert len(writes) == 2
        assert writes[0].lstrip().startswith("WITH audit AS") and "INSERT INTO subscriptions" in writes[0]
    else:
        assert len(writes) == 3
    assert "idempotency_records" in writes[-1]
    # Reads: the key's record only. The session's user is not read: its token version, read by the
    # first report, is trusted for sessions.VERSION_TTL seconds (backend/users/sessions.py).
    reads = [sql for sql in seen.sql if sql not in writes]
    assert len(reads) == 1 and "idempotency_records" in reads[0], reads


def test_the_states_are_the_values_the_api_answers():
    # What the OpenAPI document promises is what the enums hold.
    assert SubscriptionSchema().fields["status"].metadata["enum"] == list(SubscriptionStatus)
    assert SubscriptionSchema().fields["kind"].metadata["enum"] == list(TemplateKind)
    shown = set(MessageSchema().fields["status"].metadata["enum"])
    assert shown == set(MessageStatus) - {MessageStatus.SENDING}  # `sending` is shown as `queued`
    # A failed message's outcome is the error code the send answered.
    for error, outcome in [
        (errors.ConsentRequired, Outcome.CONSENT_REQUIRED),
        (errors.ConsentRevoked, Outcome.CONSENT_REVOKED),
        (errors.TemplateBanned, Outcome.TEMPLATE_BANNED),
        (errors.WeChatRejected, Outcome.WECHAT_REJECTED),
        (errors.RateLimited, Outcome.RATE_LIMITED),
        (errors.WeChatUnavailable, Outcome.WECHAT_UNAVAILABLE),
        (errors.UserNotFound, Outcome.USER_NOT_FOUND),
    ]:
        assert error.code == outcome


@pytest.mark.parametrize(
    ("status", "failure", "shown"),
    [
        (MessageStatus.QUEUED, None, "queued"),
        (MessageStatus.SENDING, None, "sending"),
        (MessageStatus.SENT, None, "sent"),
        (MessageStatus.UNKNOWN, Outcome.UNKNOWN, "unknown"),
        (MessageStatus.FAILED, Outcome.CONSENT_REQUIRED, "consent_required"),
        (MessageStatus.FAILED, Outcome.TEMPLATE_BANNED, "template_banned"),
    ],
)
def test_a_messages_outcome_is_the_same_in_python_and_in_sql(app, status, failure, shown):
    with app.app_context():
        message = Message(app_id=DEV_APPID, template_id=T1, data={}, status=status, outcome=failure)
        db.session.add(message)
        db.session.commit()
        assert message.shown_outcome == shown
        assert db.session.scalar(sa.select(Message.shown_outcome).where(Message.id == message.id)) == shown
        assert db.session.scalar(sa.select(Message.id).where(Message.shown_outcome == shown)) == message.id
