"""/admin: the operator's dashboard behind ADMIN_PASSWORD, and figures that match what happened.

`seed_history` plays a week of popups and sends through the API and the emulator; the
browser test (tests/browser) renders the same history.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import redis
from prometheus_client import CollectorRegistry, Histogram

from backend import create_app, models
from backend.extensions import db
from backend.ops.stats import estimate_quantile, wechat_latency
from tests.conftest import REDIS_URL, app_config
from tests.helpers import (
    API_KEY,
    ENUM_TEMPLATE,
    GOOD_DATA,
    LONG_TERM,
    ONE_TIME,
    MiniProgramUser,
    assert_error,
    at_once,
    log_in,
    reconfigure,
    report,
    send,
)
from tests.test_metrics import summed

PASSWORD = "correct horse battery staple"
T1, LONG, WASHER = ONE_TIME["priTmplId"], LONG_TERM["priTmplId"], ENUM_TEMPLATE["priTmplId"]


def basic(password: str, username: str = "ops") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ADMIN = basic(PASSWORD)


@pytest.fixture(autouse=True)
def admin_enabled(app):
    """The app with ADMIN_PASSWORD set."""
    app.config["ADMIN_PASSWORD"] = PASSWORD
    return app


class LedgerClock:
    """Moves the time the backend stamps on its rows, to seed a history spread over several days.

    Only `backend.models.utcnow` moves (row timestamps); session tokens and WeChat's clock don't.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        clock = self

        class ShiftedDatetime(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + clock.offset

        monkeypatch.setattr(models, "datetime", ShiftedDatetime)

    def days_ago(self, days: int) -> None:
        self.offset = -timedelta(days=days)


# A week, oldest day first: popup answers per template, and what the day's sends of T1 meet.
# Outcomes: "sent", "wechat_rejected" (47003), "unknown" (WeChat answers after our time-out).
WEEK = [
    {T1: (3, 1), WASHER: (1, 2), LONG: (1, 0), "sends": ["sent", "sent"]},
    {T1: (4, 0), WASHER: (2, 1), LONG: (0, 1), "sends": ["sent", "sent", "wechat_rejected"]},
    {T1: (2, 2), WASHER: (1, 2), LONG: (1, 0), "sends": ["sent"], "batch": True},
    {T1: (5, 1), WASHER: (0, 1), LONG: (1, 0), "sends": ["sent", "sent", "sent", "sent"]},
    {T1: (3, 1), WASHER: (2, 1), LONG: (0, 1), "sends": ["sent", "wechat_rejected"]},
    {T1: (4, 2), WASHER: (1, 2), LONG: (1, 0), "sends": ["sent", "sent", "sent"]},
    {T1: (6, 1), WASHER: (2, 1), LONG: (1, 0), "sends": ["sent", "sent", "unknown", "sent"]},
]
SLOW_WECHAT_MS = 1500  # the emulator answers this late; the client gives up after 0.5 s


@dataclass
class Seeded:
    """What the seeded history should show: counts per template and per outcome, by day."""

    days: int = len(WEEK)
    accepted: dict[str, list[int]] = field(default_factory=dict)
    rejected: dict[str, list[int]] = field(default_factory=dict)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    errcodes: dict[str, list[int]] = field(default_factory=dict)
    credits: Counter = field(default_factory=Counter)  # one-time credits left, per template
    failures: int = 0
    unknown: int = 0

    def count(self, series: dict[str, list[int]], day: int, key: str) -> None:
        series.setdefault(key, [0] * self.days)[day] += 1


def seed_history(client, emulator, app, clock: LedgerClock, users: int = 6) -> Seeded:
    """A week of popups, sends and one batch, through the API and the emulator."""
    people = [log_in(client, emulator) for _ in range(users)]
    credits: Counter = Counter()  # (openid, template) -> credits, as the ledger should hold them
    seeded = Seeded()
    turn = 0
    for day, plan in enumerate(WEEK):
        clock.days_ago(len(WEEK) - 1 - day)
        for template_id in (T1, WASHER, LONG):
            accepts, rejects = plan[template_id]
            for answer in ["accept"] * accepts + ["reject"] * rejects:
                user = people[turn % len(people)]
                turn += 1
                answer_popup(client, emulator, user, template_id, answer)
                seeded.count(seeded.accepted if answer == "accept" else seeded.rejected, day, template_id)
                if answer == "accept" and template_id != LONG:
                    credits[(user.openid, template_id)] += 1
        for outcome in plan["sends"]:
            user = max(people, key=lambda u: credits[(u.openid, T1)])
            send_one(client, emulator, app, user, outcome)
            if outcome != "wechat_rejected":  # WeChat's refusal returns the credit
                credits[(user.openid, T1)] -= 1
            record_outcome(seeded, day, outcome)
            if outcome == "wechat_rejected":
                seeded.count(seeded.errcodes, day, "47003")
        if plan.get("batch"):
            rich = max(people, key=lambda u: credits[(u.openid, T1)])
            newcomer = log_in(client, emulator)  # logged in, never asked: no credit
            send_batch(client, [rich.openid, newcomer.openid, "o-nobody-knows"])
            credits[(rich.openid, T1)] -= 1
            for outcome in ("sent", "consent_required", "user_not_found"):
                record_outcome(seeded, day, outcome)
    clock.days_ago(0)
    for (_, template_id), left in credits.items():
        seeded.credits[template_id] += left
    return seeded


def record_outcome(seeded: Seeded, day: int, outcome: str) -> None:
    seeded.count(seeded.outcomes, day, outcome)
    if outcome == "unknown":
        seeded.unknown += 1
    elif outcome != "sent":
        seeded.failures += 1


def answer_popup(client, emulator, user: MiniProgramUser, template_id: str, answer: str) -> None:
    """The user answers a popup: WeChat counts it, and the mini program reports it."""
    emulator.control("POST", "/popup", openid=user.openid, results={template_id: answer})
    assert report(client, user, {template_id: answer}).status_code == 200


def send_one(client, emulator, app, user: MiniProgramUser, outcome: str) -> None:
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}
    if outcome == "sent":
        assert send(client, body).status_code == 201
    elif outcome == "wechat_rejected":
        emulator.fault(api="subscribe_send", errcode=47003, times=1)
        assert_error(send(client, body), 422, "wechat_rejected")
    else:
        wechat = app.extensions["apps"].only().client
        timeout, wechat.timeout = wechat.timeout, (1.0, 0.5)
        emulator.fault(api="subscribe_send", late_ms=SLOW_WECHAT_MS, times=1)
        try:
            assert send(client, body).status_code == 502
        finally:
            wechat.timeout = timeout


def send_batch(client, openids: list[str]) -> None:
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": openid} for openid in openids]}
    response = client.post("/api/v1/batches", json=body, headers=API_KEY)
    assert response.status_code == 202, response.json
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/batches/{response.json['id']}", headers=API_KEY).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)


def window_series(values: list[int], days: int) -> list[int]:
    """A week's values as the dashboard's series over `days` days ending today."""
    return ([0] * days + values)[-days:]


@pytest.fixture
def clock(monkeypatch) -> LedgerClock:
    return LedgerClock(monkeypatch)


@pytest.fixture
def seeded(client, emulator, app, templates, clock) -> Seeded:
    return seed_history(client, emulator, app, clock)


# -- access -----------------------------------------------------------------------------------


class TestAccess:
    PATHS = ("/admin", "/admin/api/dashboard", "/admin/api/sends")

    @pytest.mark.parametrize("path", PATHS)
    def test_without_admin_password_the_dashboard_does_not_exist(self, client, app, path):
        app.config["ADMIN_PASSWORD"] = None
        assert_error(client.get(path, headers=ADMIN), 404, "not_found")

    @pytest.mark.parametrize("path", PATHS)
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            basic("wrong password"),
            basic(PASSWORD[:-1]),
            basic(""),
            {"Authorization": f"Bearer {PASSWORD}"},
            {"Authorization": "Basic not-base64!"},
        ],
        ids=["none", "wrong", "prefix", "empty", "bearer", "garbled"],
    )
    def test_without_the_password_it_asks_for_it(self, client, path, headers):
        response = client.get(path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="wx-subscribe admin"'

    @pytest.mark.parametrize("username", ["admin", "ops", ""])
    def test_any_user_name_with_the_password(self, client, username):
        response = client.get("/admin", headers=basic(PASSWORD, username))
        assert response.status_code == 200 and response.content_type.startswith("text/html")
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]

    def test_a_trailing_slash_is_the_same_page(self, client):
        assert client.get("/admin/", headers=ADMIN).status_code == 200

    @pytest.mark.parametrize("days", ["0", "91", "seven", "-1", "1.5"])
    def test_the_window_is_validated(self, client, days):
        details = assert_error(client.get(f"/admin/api/dashboard?days={days}", headers=ADMIN), 400, "invalid_request")
        assert "days" in details

    def test_the_page_and_its_chart_library_are_served_locally(self, client):
        page = client.get("/admin", headers=ADMIN).get_data(as_text=True)
        assert "Chart.js 4.6.1" in page and "https://" not in page.split("<html", 1)[1]
        with client.get("/static/vendor/chart.umd.min.js") as script:  # a file response: close it
            assert script.status_code == 200 and b"Chart.js v4.6.1" in script.data[:200]


class TestPasswordGuessing:
    """After 10 wrong passwords in a minute from one IP, that IP waits, right password or not."""

    def guess(self, client, password: str, **kwargs):
        return client.get("/admin/api/sends", headers={**basic(password), **kwargs.pop("headers", {})}, **kwargs)

    def test_the_eleventh_guess_and_then_the_right_password_wait(self, client, caplog):
        logging.getLogger("backend").addHandler(caplog.handler)  # backend's loggers don't propagate
        try:
            statuses = [self.guess(client, f"guess {n}").status_code for n in range(10)]
        finally:
            logging.getLogger("backend").removeHandler(caplog.handler)
        assert statuses == [401] * 10
        eleventh = self.guess(client, "guess 10")
        details = assert_error(eleventh, 429, "rate_limited")
        assert 1 <= int(eleventh.headers["Retry-After"]) <= 61 and details["retry_after"] == int(
            eleventh.headers["Retry-After"]
        )
        assert_error(self.guess(client, PASSWORD), 429, "rate_limited")
        assert_error(client.get("/admin", headers=ADMIN), 429, "rate_limited")  # the page too
        other_ip = self.guess(client, PASSWORD, environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert other_ip.status_code == 200
        failures = [r for r in caplog.records if r.getMessage() == "admin log-in failed"]
        assert len(failures) == 10 and {r.client_ip for r in failures} == {"127.0.0.1"}
        assert not any("guess" in r.getMessage() or "guess" in str(vars(r)) for r in caplog.records)

    @pytest.mark.parametrize(
        "redis_url",
        [
            pytest.param(None, id="in-process"),
            pytest.param(REDIS_URL, id="redis", marks=pytest.mark.skipif(not REDIS_URL, reason="no TEST_REDIS_URL")),
        ],
    )
    def test_32_concurrent_guesses_compare_exactly_ten(self, database_url, emulator, redis_url):
        """Each guess is counted before the password is compared: no two pass one look at the count."""
        if redis_url:
            redis.Redis.from_url(redis_url).flushdb()
        app = create_app(app_config(database_url, emulator.url, REDIS_URL=redis_url, ADMIN_PASSWORD=PASSWORD))
        assert [self.guess(app.test_client(), PASSWORD).status_code for _ in range(3)] == [200] * 3  # not failures
        statuses = at_once(32, lambda n: self.guess(app.test_client(), f"guess {n}").status_code)
        with app.app_context():
            db.engine.dispose()
        assert sorted(statuses) == [401] * 10 + [429] * 22

    def test_asking_for_the_password_is_not_a_failure(self, client):
        assert [client.get("/admin").status_code for _ in range(12)] == [401] * 12
        assert client.get("/admin", headers=ADMIN).status_code == 200

    def test_behind_a_load_balancer_the_forwarded_ip_counts(self, database_url, emulator):
        app = create_app(app_config(database_url, emulator.url, TRUSTED_PROXIES=1, ADMIN_PASSWORD=PASSWORD))
        client = app.test_client()
        for n in range(10):
            self.guess(client, f"guess {n}", headers={"X-Forwarded-For": "203.0.113.1"})
        assert_error(self.guess(client, PASSWORD, headers={"X-Forwarded-For": "203.0.113.1"}), 429, "rate_limited")
        assert self.guess(client, PASSWORD, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200
        with app.app_context():
            db.engine.dispose()

    @pytest.mark.redis
    def test_counted_across_processes_in_redis(self, database_url, emulator):
        if not REDIS_URL:
            pytest.skip("TEST_REDIS_URL is not set")
        redis.Redis.from_url(REDIS_URL).flushdb()
        config = app_config(database_url, emulator.url, REDIS_URL=REDIS_URL, ADMIN_PASSWORD=PASSWORD)
        apps = [create_app(config) for _ in range(2)]  # two processes' worth
        statuses = [self.guess(apps[n % 2].test_client(), f"guess {n}").status_code for n in range(11)]
        right = self.guess(apps[0].test_client(), PASSWORD).status_code
        for app in apps:
            with app.app_context():
                db.engine.dispose()
        assert statuses == [401] * 10 + [429] and right == 429


# -- figures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["days=abc", "days=0", "app=wx-not-served"])
def test_a_bad_query_of_the_page_is_an_html_page_for_the_browser(client, query):
    response = client.get(f"/admin?{query}", headers=ADMIN)
    assert response.status_code == 400
    assert response.content_type == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "<title>Operator dashboard" in page
    assert "must be a whole number of days" in page or "is not an appid this backend serves" in page
    assert 'href="/admin"' in page and not page.lstrip().startswith("{")


def test_an_empty_ledger_shows_zeros(client):
    data = client.get("/admin/api/dashboard", headers=ADMIN).json
    assert data["consent"] == {
        "source": "client",
        "accepted": 0,
        "rejected": 0,
        "acceptance_rate": None,
        "templates": [],
    }
    assert data["credits"] == {"total": 0, "by_template": {}}
    assert data["sends"]["total"] == 0 and data["sends"]["by_outcome"] == {}
    assert data["failures"] == [] and data["unknown"] == {"total": 0, "messages": []}
    assert len(data["window"]["labels"]) == 14
    page = client.get("/admin", headers=ADMIN).get_data(as_text=True)
    assert "No sends in the last 14 days." in page


def test_consent_figures_match_the_seeded_week(client, seeded):
    data = client.get("/admin/api/consent?days=14", headers=ADMIN).json
    assert data["source"] == "client"
    rows = {row["template_id"]: row for row in data["templates"]}
    assert set(rows) == {T1, WASHER, LONG}
    for template_id, row in rows.items():
        accepted, rejected = seeded.accepted[template_id], seeded.rejected[template_id]
        assert row["daily"] == {"accepted": window_series(accepted, 14), "rejected": window_series(rejected, 14)}
        assert (row["accepted"], row["rejected"]) == (sum(accepted), sum(rejected))
        assert row["acceptance_rate"] == pytest.approx(sum(accepted) / (sum(accepted) + sum(rejected)))
        assert row["credits_outstanding"] == seeded.credits[template_id]
    assert rows[T1]["title"] == "Order shipped" and rows[LONG]["kind"] == "long_term"
    assert data["accepted"] == sum(sum(days) for days in seeded.accepted.values())
    # Three days back, only the last three days count.
    recent = client.get("/admin/api/consent?days=3", headers=ADMIN).json
    assert {row["template_id"]: row["accepted"] for row in recent["templates"]} == {
        template_id: sum(days[-3:]) for template_id, days in seeded.accepted.items()
    }


def test_credits_outstanding_are_the_unspent_one_time_credits(client, seeded):
    data = client.get("/admin/api/credits", headers=ADMIN).json
    assert data["by_template"] == {template_id: n for template_id, n in seeded.credits.items() if n}
    assert data["total"] == sum(seeded.credits.values())
    assert LONG not in data["by_template"]  # long-term templates have no credits


def test_send_figures_match_the_seeded_week(client, seeded):
    data = client.get("/admin/api/sends", headers=ADMIN).json
    assert data["daily_by_outcome"] == {key: window_series(days, 14) for key, days in seeded.outcomes.items()}
    assert data["by_outcome"] == {key: sum(days) for key, days in seeded.outcomes.items()}
    assert data["daily_by_errcode"] == {key: window_series(days, 14) for key, days in seeded.errcodes.items()}
    assert data["by_errcode"] == {"47003": 2}
    assert data["total"] == sum(sum(days) for days in seeded.outcomes.values())
    assert data["failed"] == seeded.failures


def test_failures_and_unknown_messages_are_listed_with_their_reason(client, seeded):
    failures = client.get("/admin/api/failures", headers=ADMIN).json["failures"]
    assert len(failures) == seeded.failures
    assert [row["created_at"] for row in failures] == sorted((row["created_at"] for row in failures), reverse=True)
    rejected = [row for row in failures if row["outcome"] == "wechat_rejected"]
    assert len(rejected) == 2 and all(row["errcode"] == 47003 and row["errmsg"] for row in rejected)
    assert {row["outcome"] for row in failures} == {"wechat_rejected", "consent_required", "user_not_found"}
    assert all(row["reason"] and row["created_at"].endswith("+00:00") for row in failures)

    unknown = client.get("/admin/api/unknown", headers=ADMIN).json
    assert unknown["total"] == seeded.unknown == 1
    [message] = unknown["messages"]
    assert message["outcome"] == "unknown" and message["template_id"] == T1
    record = client.get(f"/api/v1/messages/{message['id']}", headers=API_KEY).json
    assert record["status"] == "unknown"


# UTC+14 and UTC-12: at any hour of the day, one of them is on another date than UTC.
@pytest.mark.parametrize("session_zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_days_are_utc_days_whatever_the_database_session_zone(client, app, emulator, user, templates, session_zone):
    import sqlalchemy as sa

    from backend.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("only PostgreSQL has a session time zone")

        @sa.event.listens_for(db.engine, "connect")
        def set_zone(dbapi_connection, connection_record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET TIME ZONE '{session_zone}'")

        db.engine.dispose()
    answer_popup(client, emulator, user, T1, "accept")
    data = client.get("/admin/api/dashboard?days=2", headers=ADMIN).json
    assert data["window"]["labels"][-1] == datetime.now(UTC).date().isoformat()
    [row] = data["consent"]["templates"]
    assert row["daily"]["accepted"] == [0, 1]


def test_with_push_configured_only_wechats_popup_events_count(client, app, emulator, templates):
    from tests.api.pushing import AES_KEY, TOKEN, popup, post

    user = log_in(client, emulator)
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
    # One popup, recorded twice: WeChat's push and the mini program's report.
    assert post(client, app, popup(user.openid, (T1, "accept"), (WASHER, "reject")), mode="safe").status_code == 200
    assert report(client, user, {T1: "accept", WASHER: "reject"}).status_code == 200
    data = client.get("/admin/api/consent", headers=ADMIN).json
    assert data["source"] == "push"
    assert (data["accepted"], data["rejected"]) == (1, 1)
    assert client.get("/admin/api/credits", headers=ADMIN).json["total"] == 1


def test_the_page_shows_the_figures(client, seeded):
    page = client.get("/admin?days=7", headers=ADMIN).get_data(as_text=True)
    accepted = sum(seeded.accepted[T1])
    assert f'data-template="{T1}"' in page
    assert f'<td class="num" data-figure="accepted">{accepted}</td>' in page
    assert f'data-figure="credits-outstanding">{sum(seeded.credits.values())}</p>' in page
    assert 'data-figure="unknown-total">1</p>' in page


# -- WeChat latency ---------------------------------------------------------------------------


def test_quantiles_are_estimated_from_the_buckets():
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert estimate_quantile(0.5, buckets) == pytest.approx(0.1)
    assert estimate_quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * 20 / 40)
    assert estimate_quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * 5 / 10)
    assert estimate_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    # Beyond the last finite bucket, its bound is all that is known.
    assert estimate_quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == pytest.approx(0.1)


def test_latency_rows_come_from_the_histogram():
    registry = CollectorRegistry()
    histogram = Histogram(
        "wxsub_wechat_call_seconds", "test", ["appid", "api"], buckets=(0.1, 0.5, 1.0), registry=registry
    )
    for n, seconds in enumerate([0.05] * 10 + [0.3] * 8 + [0.8] * 2):  # one API's calls, summed over two apps
        histogram.labels(("wx-a", "wx-b")[n % 2], "subscribe_send").observe(seconds)
    [row] = wechat_latency(registry)
    assert row["api"] == "subscribe_send" and row["count"] == 20
    assert row["mean_ms"] == pytest.approx((0.5 + 2.4 + 1.6) / 20 * 1000)
    assert row["p50_ms"] == pytest.approx(100.0)
    assert row["p95_ms"] == pytest.approx(750.0)


def test_latency_counts_the_backends_wechat_calls(client, emulator, user, templates):
    answer_popup(client, emulator, user, T1, "accept")
    assert send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
    rows = {row["api"]: row for row in client.get("/admin/api/latency", headers=ADMIN).json["latency"]}
    calls = summed("wxsub_wechat_call_seconds_count", api="subscribe_send")  # every app's, as the table
    assert rows["subscribe_send"]["count"] == calls >= 1
    assert 0 < rows["subscribe_send"]["p50_ms"] <= rows["subscribe_send"]["p95_ms"]


def test_the_page_shows_held_sends_and_the_send_quota(client, app, emulator, templates, user):
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, "if_no_credit": "wait"}
    assert client.post("/api/v1/messages", json=body, headers=API_KEY).status_code == 202
    emulator.control("POST", "/quota", daily_limit=1000, used=960)
    assert client.get(f"/api/v1/apps/{app.config['WX_APPID']}/quota", headers=API_KEY).status_code == 200
    page = client.get("/admin", headers=ADMIN).get_data(as_text=True)
    assert 'data-figure="held">1</p>' in page
    assert f'data-figure="quota-remaining" data-appid="{app.config["WX_APPID"]}">40</p>' in page
    data = client.get("/admin/api/dashboard", headers=ADMIN).json
    assert data["held"] == 1 and data["quotas"][0]["low"] is True
