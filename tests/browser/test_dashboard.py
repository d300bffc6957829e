"""/admin in a real browser: Debian's chromium driven by Playwright, against a live backend.

The backend serves a seeded week (tests/test_admin.py's `seed_history`); the test checks
that the charts render and that the figures on the page are the database's, in English and
after the page's switch to Chinese, and saves screenshots to test-artifacts/. With
UPDATE_DOCS_SCREENSHOT=1 it also refreshes docs/dashboard.png, the screenshot the README shows.

The browser is the system's /usr/bin/chromium (`apt-get install chromium`); Playwright
never downloads one. Without it the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import ConsentEvent, Message, Subscription
from tests.servers import ROOT
from tests.test_admin import PASSWORD, LedgerClock, seed_history
from tests.test_metrics import summed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
VIEWPORT = {"width": 1440, "height": 900}

pytestmark = pytest.mark.slow


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; under CI the browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser test must run under CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def dashboard_app(app):
    app.config["ADMIN_PASSWORD"] = PASSWORD
    return app


def figures_in_database(app) -> dict:
    """What the page should show, read straight from the tables (not through the stats service)."""
    with app.app_context():
        consent = db.session.execute(
            sa.select(ConsentEvent.template_id, ConsentEvent.result, sa.func.count())
            .where(ConsentEvent.source == "client", ConsentEvent.result.in_(("accept", "reject")))
            .group_by(ConsentEvent.template_id, ConsentEvent.result)
        ).all()
        credits = db.session.execute(
            sa.select(Subscription.template_id, sa.func.sum(Subscription.remaining))
            .where(Subscription.kind == "one_time")
            .group_by(Subscription.template_id)
        ).all()
        messages = db.session.scalars(sa.select(Message).order_by(Message.created_at.desc(), Message.id.desc())).all()
    outcomes: dict[str, int] = {}
    for message in messages:
        outcome = message.outcome if message.status == "failed" else message.status
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "consent": {(template_id, result): count for template_id, result, count in consent},
        "credits": {template_id: int(total) for template_id, total in credits},
        "outcomes": outcomes,
        "failed_ids": [m.public_id for m in messages if m.status == "failed"][:20],
        "unknown_ids": [m.public_id for m in messages if m.status == "unknown"],
    }


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def percent(accepted: int, rejected: int) -> str:
    return f"{accepted / (accepted + rejected) * 100:.1f} %"


CHARTS_READY = """() => {
  const canvases = [...document.querySelectorAll("canvas")];
  return canvases.length > 0 && canvases.every((canvas) => window.Chart && Chart.getChart(canvas));
}"""

# Per chart: its canvas's template or id, and each dataset's label and total.
CHART_TOTALS = """() => [...document.querySelectorAll("canvas")].map((canvas) => {
  const chart = Chart.getChart(canvas);
  return {
    key: canvas.dataset.template || canvas.id,
    title: chart.options.plugins.title.text,
    width: canvas.width,
    datasets: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data.reduce((a, b) => a + b, 0)])),
  };
})"""


def test_the_dashboard_shows_the_databases_figures(
    browser, dashboard_app, live_backend, client, emulator, templates, monkeypatch, request
):
    app = dashboard_app
    seeded = seed_history(client, emulator, app, LedgerClock(monkeypatch))
    expected = figures_in_database(app)

    context = browser.new_context(viewport=VIEWPORT, http_credentials={"username": "ops", "password": PASSWORD})
    try:
        check_dashboard(context.new_page(), live_backend, seeded, expected, request)
        check_dashboard_in_chinese(context.new_page(), live_backend, seeded, expected, request)
    finally:
        context.close()


def check_dashboard(page, live_backend: str, seeded, expected: dict, request) -> None:
    problems: list[str] = []  # script errors and CSP refusals end up on the console
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto(f"{live_backend}/admin?days=7")  # the seeded week
    assert response is not None and response.status == 200
    page.wait_for_function(CHARTS_READY, timeout=15_000)
    charts = {chart["key"]: chart for chart in page.evaluate(CHART_TOTALS)}
    save_screenshot(page, request)
    assert problems == []

    # Consent: per template, the table and its chart both match the ledger.
    for template_id in seeded.accepted:
        accepted = expected["consent"].get((template_id, "accept"), 0)
        rejected = expected["consent"].get((template_id, "reject"), 0)
        assert (accepted, rejected) == (sum(seeded.accepted[template_id]), sum(seeded.rejected[template_id]))
        row = f'#consent-table tr[data-template="{template_id}"]'
        assert text(page, f'{row} [data-figure="accepted"]') == str(accepted)
        assert text(page, f'{row} [data-figure="rejected"]') == str(rejected)
        assert text(page, f'{row} [data-figure="acceptance-rate"]') == percent(accepted, rejected)
        assert text(page, f'{row} [data-figure="credits-outstanding"]') == str(expected["credits"].get(template_id, 0))
        assert charts[template_id]["datasets"] == {"accepted": accepted, "rejected": rejected}
    total_accepted = sum(n for (_, result), n in expected["consent"].items() if result == "accept")
    total_rejected = sum(n for (_, result), n in expected["consent"].items() if result == "reject")
    assert text(page, '.tiles [data-figure="acceptance-rate"]') == percent(total_accepted, total_rejected)
    assert text(page, '.tiles [data-figure="credits-outstanding"]') == str(sum(expected["credits"].values()))

    # Sends: by outcome in the table, the chart and the tiles.
    outcomes = expected["outcomes"]
    assert outcomes == {key: sum(days) for key, days in seeded.outcomes.items()}
    for outcome, count in outcomes.items():
        assert text(page, f'#sends-by-outcome tr[data-outcome="{outcome}"] [data-figure="count"]') == str(count)
    assert charts["sends-by-outcome-chart"]["datasets"] == outcomes
    assert charts["sends-by-errcode-chart"]["datasets"] == {"47003": 2}
    assert text(page, '#sends-by-errcode tr[data-errcode="47003"] [data-figure="count"]') == "2"
    assert text(page, '[data-figure="sends-total"]') == str(sum(outcomes.values()))
    failed = sum(n for outcome, n in outcomes.items() if outcome not in ("sent", "unknown"))
    assert text(page, '[data-figure="sends-failed"]') == str(failed)

    # Recent failures and unknown messages: the same messages, newest first.
    assert (
        page.locator("#failures-table tbody tr").evaluate_all("rows => rows.map(row => row.dataset.message)")
        == expected["failed_ids"]
    )
    assert (
        page.locator("#unknown-table tbody tr").evaluate_all("rows => rows.map(row => row.dataset.message)")
        == expected["unknown_ids"]
    )
    assert text(page, '[data-figure="unknown-total"]') == str(len(expected["unknown_ids"])) == "1"

    # WeChat latency: the calls the backend made, as its histogram counted them.
    calls = summed("wxsub_wechat_call_seconds_count", api="subscribe_send")  # every app's, as the table
    assert text(page, '#latency-table tr[data-api="subscribe_send"] [data-figure="count"]') == f"{int(calls):,}"
    assert set(charts["latency-chart"]["datasets"]) == {"p50", "p95"}
    assert all(chart["width"] > 0 and chart["title"] for chart in charts.values())


def check_dashboard_in_chinese(page, live_backend: str, seeded, expected: dict, request) -> None:
    """The page's switch to Chinese: the same figures, the headings and the charts in Chinese."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto(f"{live_backend}/admin?days=7&lang=zh-CN")
    assert response is not None and response.status == 200
    page.wait_for_function(CHARTS_READY, timeout=15_000)
    charts = {chart["key"]: chart for chart in page.evaluate(CHART_TOTALS)}
    save_screenshot(page, request, suffix="-zh-CN")
    assert problems == []
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert text(page, "#consent h2") == "各模板的订阅授权"
    assert text(page, ".tiles .tile h2 >> nth=0") == "剩余额度"
    for template_id in seeded.accepted:
        accepted = expected["consent"].get((template_id, "accept"), 0)
        rejected = expected["consent"].get((template_id, "reject"), 0)
        assert charts[template_id]["datasets"] == {"同意": accepted, "拒绝": rejected}
        assert charts[template_id]["title"].endswith("：每天的弹窗选择")
    assert charts["latency-chart"]["title"] == "各接口的微信调用耗时"
    assert charts["sends-by-outcome-chart"]["datasets"] == expected["outcomes"]  # outcomes are codes in both


def save_screenshot(page, request, suffix: str = "") -> None:
    """test-artifacts/dashboard.png (per database); docs/dashboard.png on request, from SQLite."""
    database = request.node.callspec.params.get("database_url", "sqlite")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (f"dashboard{suffix}.png" if database == "sqlite" else f"dashboard-{database}{suffix}.png")
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") and database == "sqlite" and not suffix:
        shutil.copyfile(path, DOCS_SCREENSHOT)
