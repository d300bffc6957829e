"""Figures of `/metrics` read from the database at each scrape, the same for every process:
held messages per app, and WeChat's quota of subscribe/send as last read (ops/quota.py; the
scrape itself never calls WeChat)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, current_app
from prometheus_client.core import GaugeMetricFamily, Metric

from backend.consent import held
from backend.db import end_read
from backend.ops import quota


class DatabaseGauges:
    """A prometheus_client collector: `collect` runs inside the scrape's app context."""

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "wxsub_messages_awaiting_consent", "Held messages waiting for a credit, per app.", labels=["appid"]
        )
        counts = held.held_counts()
        end_read()
        for mini_program in current_app.extensions["apps"]:
            waiting.add_metric([mini_program.appid], counts.get(mini_program.appid, 0))
        yield waiting
        remaining = GaugeMetricFamily(
            "wxsub_wechat_quota_remaining",
            "subscribe/send calls WeChat still allows today, as getApiQuota last said (at most 10 minutes old "
            "while a worker runs).",
            labels=["appid"],
        )
        for mini_program in current_app.extensions["apps"]:
            known = quota.stored(mini_program.appid)
            if known is not None and known.remain is not None:
                remaining.add_metric([mini_program.appid], known.remain)
        yield remaining


def init_app(app: Flask) -> None:
    app.extensions["metrics_gauges"] = DatabaseGauges()
