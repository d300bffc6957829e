"""Prometheus metrics at `/metrics`, counted across every process that shares a folder.

Under gunicorn, `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh folder (or keeps
the operator's) before the workers start, and each process's counters are summed when scraped.
`flask wx worker` (and every other `flask wx` command that sends) started with the same
PROMETHEUS_MULTIPROC_DIR writes its counters there too, so gunicorn's /metrics and the dashboard
count its sends. A worker on another machine serves its own: `wx worker --metrics-port 9100`.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # prometheus_client writes a file per process there
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Whatever happens for one mini program carries its `appid` label (docs/design.md): the apps are
# configured, so the label's values are few and known (the Prometheus rule of bounded labels).
HTTP_REQUESTS = Counter("wxsub_http_requests_total", "HTTP requests answered.", ["method", "endpoint", "status"])
SENDS = Counter(
    "wxsub_sends_total", "Messages settled, by outcome and WeChat errcode.", ["appid", "outcome", "errcode"]
)
CREDITS = Counter("wxsub_credits_total", "Send credits granted, spent, refunded and revoked.", ["appid", "change"])
TOKEN_REFRESHES = Counter("wxsub_token_refreshes_total", "Access tokens fetched from WeChat.", ["appid", "api"])
WECHAT_CALLS = Counter("wxsub_wechat_calls_total", "Calls to WeChat's server API.", ["appid", "api", "result"])
REDIS_FALLBACKS = Counter(
    "wxsub_redis_fallbacks_total", "Uses of Redis served without it (Redis down), by use.", ["use"]
)
# Refused pushes leave no row (anyone can send them): they are counted here, by reason.
PUSH_REFUSALS = Counter("wxsub_push_refusals_total", "Message pushes refused, by reason.", ["appid", "reason"])
# Retention's purges (ops/retention.py), by kind: message_values, consent_events, webhook_events, idempotency.
RETENTION_PURGED = Counter("wxsub_retention_purged_total", "Rows purged by retention, by kind.", ["kind"])
WECHAT_LATENCY = Histogram(
    "wxsub_wechat_call_seconds",
    "Latency of calls to WeChat's server API.",
    ["appid", "api"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("metrics", __name__)


def record_wechat_call(appid: str, api: str, seconds: float, result: str) -> None:
    """The WeChat client's hook: `result` is an errcode ("0" for success) or an error name."""
    WECHAT_CALLS.labels(appid, api, result).inc()
    WECHAT_LATENCY.labels(appid, api).observe(seconds)


def record_token_refresh(appid: str, api: str) -> None:
    TOKEN_REFRESHES.labels(appid, api).inc()


def record_send(appid: str, outcome: str, errcode: int | None) -> None:
    SENDS.labels(appid, outcome, "" if errcode is None else str(errcode)).inc()


def record_credits(appid: str, change: str, amount: int = 1) -> None:
    if amount:
        CREDITS.labels(appid, change).inc(amount)


def record_redis_fallback(use: str) -> None:
    REDIS_FALLBACKS.labels(use).inc()


def record_push_refusal(appid: str, reason: str) -> None:
    PUSH_REFUSALS.labels(appid, reason).inc()


def record_purged(kind: str, rows: int) -> None:
    if rows:
        RETENTION_PURGED.labels(kind).inc(rows)


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 (scraped from another machine)
    """Serve this process's metrics (every process's, with a shared folder) on `port`, in a thread:
    for a process without a web server, e.g. `wx worker --metrics-port` on a machine of its own."""
    start_http_server(port, addr=host, registry=registry())


@bp.get("/metrics")
def get_metrics():
    text = generate_latest(registry())
    gauges = current_app.extensions.get("metrics_gauges")  # read from the database (ops/gauges.py)
    if gauges is not None:
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(gauges)
        text += generate_latest(scraped)
    return Response(text, mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def count_request(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response
