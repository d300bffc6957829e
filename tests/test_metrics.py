"""/metrics: Prometheus text whose counters match what the test did."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.api.pushing import popup
from tests.helpers import GOOD_DATA, ONE_TIME, accept, reconfigure, send
from tests.servers import backend_env, gunicorn
from tests.test_apps import AES_A, AES_B, KEY_A, KEY_B, TOKEN_A, TOKEN_B, A, B, client_of, log_in, push, two_apps
from wxemu.defaults import DEV_APPID

__all__ = ["two_apps"]  # the fixture of a backend serving apps A and B

T1 = ONE_TIME["priTmplId"]


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def summed(name: str, **labels) -> float:
    """A sample's value in this process, summed over the labels not given (e.g. over every app)."""
    from backend.ops.metrics import registry

    return sum(
        sample.value
        for family in registry().collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def delta(after, before, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_follow_what_happened(client, emulator, user, templates):
    before = scrape(client)
    accept(client, emulator, user, times=3)  # 3 reports: 3 credits granted
    assert send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
    emulator.fault(api="subscribe_send", errcode=47003, times=1)
    assert send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 422
    after = scrape(client)

    assert delta(after, before, "wxsub_credits_total", appid=DEV_APPID, change="granted") == 3
    assert delta(after, before, "wxsub_credits_total", appid=DEV_APPID, change="spent") == 2
    assert delta(after, before, "wxsub_credits_total", appid=DEV_APPID, change="refunded") == 1
    assert delta(after, before, "wxsub_sends_total", appid=DEV_APPID, outcome="sent", errcode="") == 1
    assert delta(after, before, "wxsub_sends_total", appid=DEV_APPID, outcome="wechat_rejected", errcode="47003") == 1
    assert delta(after, before, "wxsub_wechat_calls_total", appid=DEV_APPID, api="subscribe_send", result="0") == 1
    assert delta(after, before, "wxsub_wechat_calls_total", appid=DEV_APPID, api="subscribe_send", result="47003") == 1
    assert delta(after, before, "wxsub_wechat_call_seconds_count", appid=DEV_APPID, api="subscribe_send") == 2
    assert (
        delta(after, before, "wxsub_http_requests_total", method="POST", endpoint="/api/v1/messages", status="201") == 1
    )
    assert (
        delta(after, before, "wxsub_http_requests_total", method="POST", endpoint="/api/v1/subscriptions", status="200")
        == 3
    )


def test_token_refreshes_are_counted(client, app, emulator, templates):
    before = scrape(client)
    wechat = app.extensions["apps"].only().client
    wechat.templates.list()
    emulator.control("POST", "/tokens/invalidate")
    wechat.templates.list()
    after = scrape(client)
    assert delta(after, before, "wxsub_token_refreshes_total", appid=DEV_APPID, api="stable") == 2


def test_push_replays_are_not_counted_twice(client, app, emulator, templates):
    from tests.api.pushing import AES_KEY, TOKEN, post

    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
    before = scrape(client)
    message = popup("o-metrics", (T1, "accept"))
    for _ in range(3):
        post(client, app, message, mode="safe")
    after = scrape(client)
    assert delta(after, before, "wxsub_credits_total", appid=DEV_APPID, change="granted") == 1


class TestPerApp:
    """Two apps: what happens for one is counted under its `appid` label, never under the other's."""

    def test_sends_and_wechat_calls_carry_their_app(self, two_apps, emulator):
        client = two_apps.test_client()
        before = scrape(client)
        for appid, token, aes_key, key in ((A, TOKEN_A, AES_A, KEY_A), (B, TOKEN_B, AES_B, KEY_B)):
            openid = log_in(client, emulator, appid)["openid"]
            emulator.control("POST", "/popup", appid=appid, openid=openid, results={T1: "accept"})
            assert push(client, appid, popup(openid, (T1, "accept")), token, aes_key).status_code == 200
            statuses = [
                client.post("/api/v1/messages", json=body, headers={"X-Api-Key": key}).status_code
                for body in [{"openid": openid, "template_id": T1, "data": GOOD_DATA}] * (2 if appid == A else 1)
            ]
            assert statuses == ([201, 409] if appid == A else [201])  # A sends twice, with one credit
        after = scrape(client)
        sent = {
            appid: delta(after, before, "wxsub_sends_total", appid=appid, outcome="sent", errcode="")
            for appid in (A, B)
        }
        assert sent == {A: 1, B: 1}
        calls = {
            appid: delta(after, before, "wxsub_wechat_calls_total", appid=appid, api="subscribe_send", result="0")
            for appid in (A, B)
        }
        assert calls == {A: 1, B: 1}
        credits = {
            (appid, change): delta(after, before, "wxsub_credits_total", appid=appid, change=change)
            for appid in (A, B)
            for change in ("granted", "spent")
        }  # each push granted one credit, each app spent it: counted under the app of the subscription
        assert credits == {(A, "granted"): 1, (A, "spent"): 1, (B, "granted"): 1, (B, "spent"): 1}
        logins = {
            appid: delta(after, before, "wxsub_wechat_calls_total", appid=appid, api="jscode2session", result="0")
            for appid in (A, B)
        }
        assert logins == {A: 1, B: 1}
        assert delta(after, before, "wxsub_wechat_call_seconds_count", appid=B, api="subscribe_send") == 1

    def test_token_refreshes_are_counted_for_their_app(self, two_apps, emulator):
        client = two_apps.test_client()
        before = scrape(client)
        with two_apps.app_context():
            client_of(two_apps, A).templates.list()
            client_of(two_apps, B).templates.list()
            emulator.control("POST", "/tokens/invalidate", appid=A)
            client_of(two_apps, A).templates.list()
        after = scrape(client)
        refreshes = {
            appid: delta(after, before, "wxsub_token_refreshes_total", appid=appid, api="stable") for appid in (A, B)
        }
        assert refreshes == {A: 2, B: 1}

    def test_push_refusals_are_counted_for_the_app_addressed(self, two_apps):
        client = two_apps.test_client()
        before = scrape(client)
        message = popup("o-forged", (T1, "accept"))
        assert push(client, A, message, TOKEN_B, AES_B, key_appid=B).status_code == 403  # B's keys at A's URL
        after = scrape(client)
        assert delta(after, before, "wxsub_push_refusals_total", appid=A, reason="signature") == 1
        assert delta(after, before, "wxsub_push_refusals_total", appid=B, reason="signature") == 0


@pytest.mark.slow
def test_counted_across_gunicorn_workers(database_url, emulator, app):
    with gunicorn(backend_env(database_url, emulator.url), workers=2, threads=2) as server:
        # The start-up probes counted so far: a busy machine may time one out and probe again.
        probes = _healthz_count(requests.get(f"{server.url}/metrics", timeout=10).text)
        assert probes >= 1
        for _ in range(40):  # a new connection each time: both workers answer some
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        for _ in range(10):  # every scrape, whichever worker answers it, sees all 40 and the probes
            assert _healthz_count(requests.get(f"{server.url}/metrics", timeout=10).text) == probes + 40


def _healthz_count(text: str) -> float:
    [healthz] = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "wxsub_http_requests_total" and sample.labels["endpoint"] == "/healthz"
    ]
    return healthz
