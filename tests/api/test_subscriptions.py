"""Consent reports: credits per accept, the raw popup result, idempotency, the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import ConsentEvent
from tests.helpers import ENUM_TEMPLATE, LONG_TERM, ONE_TIME, assert_error, reconfigure, report

T1, T2, T3 = ONE_TIME["priTmplId"], LONG_TERM["priTmplId"], ENUM_TEMPLATE["priTmplId"]


def by_template(response) -> dict:
    return {sub["template_id"]: sub for sub in response.json["subscriptions"]}


def test_each_accept_adds_a_credit_and_reject_keeps_them(client, user, templates):
    for _ in range(3):
        report(client, user, {T1: "accept"})
    response = report(client, user, {T1: "reject"}, scene="checkout")
    sub = by_template(response)[T1]
    assert sub["status"] == "reject" and sub["remaining"] == 3 and sub["kind"] == "one_time"
    assert sub["updated_at"].endswith("+00:00")


def test_long_term_accept_activates_without_counting(client, user, templates):
    sub = by_template(report(client, user, {T2: "accept"}))[T2]
    assert sub == {**sub, "kind": "long_term", "status": "accept", "remaining": None}
    sub = by_template(report(client, user, {T2: "reject"}))[T2]
    assert sub["status"] == "reject"


def test_raw_wx_result_with_errmsg_is_accepted(client, user, templates):
    raw = {"errMsg": "requestSubscribeMessage:ok", T1: "accept", T3: "filter"}
    subs = by_template(report(client, user, raw))
    assert subs[T1]["remaining"] == 1 and subs[T3]["status"] == "filter" and subs[T3]["remaining"] == 0


def test_ban_and_filter_are_recorded(client, user, templates):
    subs = by_template(report(client, user, {T1: "ban", T3: "filter"}))
    assert subs[T1]["status"] == "ban" and subs[T3]["status"] == "filter"


def test_get_lists_every_reported_template(client, user, templates):
    report(client, user, {T1: "accept", T2: "accept"})
    report(client, user, {T3: "reject"})
    listed = by_template(client.get("/api/v1/subscriptions", headers=user.auth))
    assert set(listed) == {T1, T2, T3}


def test_unknown_template_id_is_looked_up_once_and_cached(client, user, emulator):
    report(client, user, {"tmpl-unknown-1": "accept"})
    report(client, user, {"tmpl-unknown-1": "accept"})
    assert len(emulator.calls("gettemplate")) == 1
    sub = by_template(client.get("/api/v1/subscriptions", headers=user.auth))["tmpl-unknown-1"]
    assert sub["remaining"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"results": {}},
        {"results": {"a": "accept", "b": "accept", "c": "accept", "d": "accept", "e": "accept", "f": "accept"}},
        {"results": {"t1": "maybe"}},
        {"results": {"bad id!": "accept"}},
        {"results": ["t1"]},
        {"results": {"t1": "accept"}, "scene": 5},
        {"results": {"t1": "accept"}, "user_id": 1},
        {"results": {"errMsg": "requestSubscribeMessage:fail Templates count out of max bounds", "errCode": 20003}},
    ],
)
def test_bad_reports_are_400_and_write_nothing(client, app, user, body):
    assert_error(client.post("/api/v1/subscriptions", json=body, headers=user.auth), 400, "invalid_request")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 0


def test_reports_need_a_session(client):
    assert_error(client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}), 401, "unauthorized")


def test_idempotency_key_makes_a_retried_report_count_once(client, user, templates):
    headers = {**user.auth, "Idempotency-Key": "popup-42"}
    first = client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=headers)
    again = client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=headers)
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    assert by_template(client.get("/api/v1/subscriptions", headers=user.auth))[T1]["remaining"] == 1
    other = client.post("/api/v1/subscriptions", json={"results": {T1: "reject"}}, headers=headers)
    assert_error(other, 422, "idempotency_conflict")


def test_idempotency_keys_are_per_user(client, emulator, user, templates):
    from tests.helpers import log_in

    other = log_in(client, emulator)
    for who in (user, other):
        client.post(
            "/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers={**who.auth, "Idempotency-Key": "same"}
        )
    for who in (user, other):
        assert by_template(client.get("/api/v1/subscriptions", headers=who.auth))[T1]["remaining"] == 1


def test_every_report_is_audited(client, app, user, templates):
    report(client, user, {T1: "accept", T2: "reject"}, scene="order-page")
    with app.app_context():
        events = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.template_id, e.result, e.source, e.scene, e.credits_delta) for e in events] == [
            (T1, "accept", "client", "order-page", 1),
            (T2, "reject", "client", "order-page", 0),
        ]


def test_with_push_configured_client_reports_mint_nothing(client, app, user, templates):
    reconfigure(app, WX_TOKEN="push-token")
    for _ in range(3):
        sub = by_template(report(client, user, {T1: "accept"}))[T1]
    assert sub["remaining"] == 0 and sub["reported"] == "accept"
