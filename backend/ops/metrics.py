"""Prometheus metrics at `/metrics`, counted across every gunicorn worker.

Under gunicorn, `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers start, and each worker's counters are summed when scraped.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


@bp.get("/metrics")
def get_metrics():
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def count_request(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response
