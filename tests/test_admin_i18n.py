"""/admin in the operator's language: Accept-Language or the page's switch, and every string in Chinese.

A dashboard string without its zh-CN form fails here by name; the fix is one line in
backend/i18n/dashboard_zh_cn.py.
"""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser
from pathlib import Path

import pytest

import backend
from backend.api import admin
from backend.component.merchants import STATE_WORDS
from backend.i18n.dashboard_zh_cn import TEXTS as ZH
from backend.ops.stats import OUTCOME_REASONS
from backend.states import TemplateKind, WebhookStatus
from tests.test_admin import ADMIN, PASSWORD

PAGES = [Path(backend.__file__).parent / "pages" / "admin" / name for name in ("dashboard.html", "error.html")]
CJK = re.compile(r"[\u4e00-\u9fff]")
# _("...") in the page: a literal string, the first argument.
PAGE_STRING = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")
# Shown as they are in both languages: names, units, terms the Chinese docs keep, the switch's "English".
UNTRANSLATED = {"p50", "p95", "ms", "UTC", "errcode", "subscribe", "send", "Webhook", "worker", "English"}


def page_strings() -> set[str]:
    return {text for page in PAGES for text in PAGE_STRING.findall(page.read_text(encoding="utf-8"))}


def dynamic_strings() -> set[str]:
    """Strings the page translates from data: kinds, webhook statuses, outcome meanings, chart texts."""
    kinds = {kind.replace("_", "-") for kind in TemplateKind}
    statuses = {WebhookStatus.FAILING.value, WebhookStatus.DEAD.value}
    return kinds | statuses | set(OUTCOME_REASONS.values()) | set(admin.CHART_TEXTS) | set(STATE_WORDS)


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_the_page_pattern_finds_the_page_strings():
    assert {"Credits outstanding", "{days} d", "No failed message."} <= page_strings()


@pytest.mark.parametrize("english", sorted(page_strings() | dynamic_strings()))
def test_every_dashboard_string_has_its_chinese_form(english):
    assert english in ZH, f"add {english!r} to backend/i18n/dashboard_zh_cn.py"
    assert CJK.search(ZH[english]) and ZH[english] != english
    assert placeholders(ZH[english]) == placeholders(english)
    assert set(re.findall(r"</?\w+>", ZH[english])) == set(re.findall(r"</?\w+>", english))  # the same markup


def test_the_catalogue_holds_only_strings_the_dashboard_shows():
    assert sorted(set(ZH) - page_strings() - dynamic_strings()) == []


class VisibleText(HTMLParser):
    """What an operator reads: text outside <script>, <style> and <code>, and the labels of elements."""

    HIDDEN = {"script", "style", "code", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        self.chunks.extend(value for name, value in attrs if name == "aria-label" and value)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.chunks.append(data.strip())


def english_words(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    # Words of letters only: ids, codes and figures ("tmpl-1", "2xx", "47003") are data, not prose.
    words = {word for word in re.findall(r"[\w-]+", " ".join(parser.chunks)) if re.fullmatch(r"[A-Za-z-]{2,}", word)}
    return words - UNTRANSLATED


def dashboard(client, **headers):
    return client.get("/admin", headers={**ADMIN, **headers})


@pytest.fixture
def client(client, app):
    """The test client of an app with ADMIN_PASSWORD set."""
    app.config["ADMIN_PASSWORD"] = PASSWORD
    return client


@pytest.fixture
def every_section(monkeypatch):
    """The figures of a page with a row in every table (templates, sends, failures, webhooks)."""
    real = admin._dashboard

    def filled(days, app_id):
        data = real(days, app_id)
        daily = [0] * days
        data["consent"]["templates"] = [
            {
                "template_id": "tmpl-1",
                "title": None,
                "kind": "one_time",
                "accepted": 3,
                "rejected": 1,
                "acceptance_rate": 0.75,
                "credits_outstanding": 2,
                "daily": {"accepted": daily, "rejected": daily},
            }
        ]
        message = {
            "id": "msg_1",
            "created_at": "2026-12-01T00:00:00+00:00",
            "template_id": "tmpl-1",
            "user_id": 1,
            "openid": "o1",
            "outcome": "wechat_rejected",
            "errcode": 47003,
            "errmsg": None,
            "reason": OUTCOME_REASONS["wechat_rejected"],
            "batch": True,
        }
        data["sends"].update(
            total=2,
            failed=1,
            by_outcome={"wechat_rejected": 1, "unknown": 1},
            by_errcode={"47003": 1},
            daily_by_outcome={"wechat_rejected": daily},
            daily_by_errcode={"47003": daily},
        )
        data["failures"] = [message]
        data["unknown"] = {
            "total": 3,
            "messages": [{**message, "outcome": "unknown", "reason": OUTCOME_REASONS["unknown"]}],
        }
        data["latency"] = [{"api": "subscribe_send", "count": 1, "mean_ms": 1.0, "p50_ms": 1.0, "p95_ms": 1.0}]
        data["webhooks"] = {
            "failing": 1,
            "dead": 1,
            "events": [
                {
                    "id": "evt_1",
                    "type": "message.sent",
                    "status": status,
                    "attempts": 3,
                    "last_error": None,
                    "created_at": "2026-12-01T00:00:00+00:00",
                    "next_attempt_at": None,
                }
                for status in ("failing", "dead")
            ],
        }
        data["apps"] = [{"appid": "wx1", "name": "一号"}, {"appid": "wx2", "name": "二号"}]
        return data

    monkeypatch.setattr(admin, "_dashboard", filled)


def test_accept_language_zh_gives_the_chinese_page(client):
    response = dashboard(client, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Content-Language"] == "zh-CN"
    assert '<html lang="zh-CN">' in page
    for heading in ("运维仪表盘", "剩余额度", "同意率", "各模板的订阅授权", "最近的失败", "结果未知的消息"):
        assert heading in page
    assert "Credits outstanding" not in page
    assert {"Accept-Language", "Cookie"} <= set(response.vary)


@pytest.mark.parametrize("header", [None, "en-US,en;q=0.9", "fr", "zh-TW"])
def test_otherwise_the_page_is_english(client, header):
    response = dashboard(client, **({"Accept-Language": header} if header else {}))
    page = response.get_data(as_text=True)
    assert response.headers["Content-Language"] == "en" and '<html lang="en">' in page
    assert "Credits outstanding" in page and "剩余额度" not in page


def test_every_visible_string_is_chinese_in_zh_cn(client, every_section):
    page = dashboard(client, **{"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "投递失败的 Webhook" in page and "1 条已放弃" in page and "（尚未查询）" in page  # every section filled
    assert english_words(page) == set()


def test_the_english_page_shows_the_same_sections(client, every_section):
    page = dashboard(client).get_data(as_text=True)
    assert english_words(page) >= {"Failing", "webhooks", "dead"}  # the check above is not blind


def test_the_switch_is_remembered_in_a_cookie(client):
    response = client.get("/admin?days=7&lang=zh-CN", headers={**ADMIN, "Accept-Language": "en"})
    assert response.headers["Content-Language"] == "zh-CN"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{admin.LANGUAGE_COOKIE}=zh-CN;") and "Path=/admin" in cookie and "HttpOnly" in cookie
    # The next page, with no ?lang=, keeps it, whatever Accept-Language says; ?lang=en switches back.
    assert dashboard(client, **{"Accept-Language": "en"}).headers["Content-Language"] == "zh-CN"
    assert client.get("/admin?lang=en", headers=ADMIN).headers["Content-Language"] == "en"
    assert dashboard(client, **{"Accept-Language": "zh-CN"}).headers["Content-Language"] == "en"


def test_the_switch_links_keep_the_window_and_name_both_languages(client):
    page = client.get("/admin?days=7&lang=en", headers=ADMIN).get_data(as_text=True)
    assert 'href="?days=7&amp;lang=zh-CN"' in page and ">中文</a>" in page
    assert 'href="?days=7&amp;lang=en"' in page and ">English</a>" in page


def test_an_unknown_language_is_ignored(client):
    response = client.get("/admin?lang=fr", headers={**ADMIN, "Accept-Language": "zh-CN"})
    assert response.headers["Content-Language"] == "zh-CN" and "Set-Cookie" not in response.headers


def test_the_json_stays_english(client):
    data = client.get("/admin/api/dashboard", headers={**ADMIN, "Accept-Language": "zh-CN"}).json
    assert data["reasons"]["consent_required"] == OUTCOME_REASONS["consent_required"]


def test_a_value_in_a_string_is_escaped():
    translated = admin.gettext("zh-CN")("Accepted and rejected per day for {template}", template="<b>")
    assert str(translated) == "&lt;b&gt; 每天的同意与拒绝次数"


def test_a_bad_query_is_an_html_page_in_the_operators_language(client):
    response = client.get("/admin?days=abc", headers={**ADMIN, "Accept-Language": "zh-CN"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "返回仪表盘" in page and '<html lang="zh-CN">' in page
