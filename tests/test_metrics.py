"""/metrics: Prometheus text whose counters match what the test did."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import GOOD_DATA, ONE_TIME, accept, reconfigure, send
from tests.servers import backend_env, gunicorn

T1 = ONE_TIME["priTmplId"]


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


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

    assert delta(after, before, "wxsub_credits_total", change="granted") == 3
    assert delta(after, before, "wxsub_credits_total", change="spent") == 2
    assert delta(after, before, "wxsub_credits_total", change="refunded") == 1
    assert delta(after, before, "wxsub_sends_total", outcome="sent", errcode="") == 1
    assert delta(after, before, "wxsub_sends_total", outcome="wechat_rejected", errcode="47003") == 1
    assert delta(after, before, "wxsub_wechat_calls_total", api="subscribe_send", result="0") == 1
    assert delta(after, before, "wxsub_wechat_calls_total", api="subscribe_send", result="47003") == 1
    assert delta(after, before, "wxsub_wechat_call_seconds_count", api="subscribe_send") == 2
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
    assert delta(after, before, "wxsub_token_refreshes_total", api="stable") == 2


def test_push_replays_are_not_counted_twice(client, app, emulator, templates):
    from tests.api.pushing import AES_KEY, TOKEN, popup, post

    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
    before = scrape(client)
    message = popup("o-metrics", (T1, "accept"))
    for _ in range(3):
        post(client, app, message, mode="safe")
    after = scrape(client)
    assert delta(after, before, "wxsub_credits_total", change="granted") == 1


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
