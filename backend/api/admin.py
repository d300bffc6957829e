"""`/admin`: the operator's dashboard, and its figures as JSON under `/admin/api/`.

Guarded by ADMIN_PASSWORD with HTTP Basic auth (any user name), so a browser asks for it
and a script sends it with `curl -u admin:$ADMIN_PASSWORD`. Without ADMIN_PASSWORD the
dashboard does not exist: every path under /admin answers 404.

Wrong passwords are limited per client IP: after MAX_FAILURES in a minute, every request
from that IP is 429 `rate_limited` (the right password too) until the oldest of them is a
minute old, so the password can't be guessed at speed. Each wrong password is logged with
the IP (never what was typed).

The page speaks the operator's language: `?lang=zh-CN` or `?lang=en` (the page's switch), kept
in a cookie, else Accept-Language (zh → Simplified Chinese), else English. Its strings are
backend/i18n/dashboard_zh_cn.py's; the JSON under /admin/api/ stays English, for scripts.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, Response, current_app, g, render_template, request
from markupsafe import Markup

from backend import i18n, webhooks
from backend.api.guards import client_ip
from backend.errors import InvalidRequest, NotFound, error_response
from backend.infra import ratelimit
from backend.ops import retention, stats

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

AUTHENTICATE = 'Basic realm="wx-subscribe admin"'
MAX_FAILURES = 10  # wrong passwords per client IP in a minute
DEFAULT_DAYS = 14
WINDOW_CHOICES = (1, 7, 14, 30, 90)
LANGUAGE_COOKIE = "wxsub_admin_lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_CHOICES = i18n.LANGUAGE_CHOICES
# The charts' strings (the page's script draws them): handed to it translated.
CHART_TEXTS = (
    "day (UTC)",
    "count",
    "{title}: popup answers per day",
    "accepted",
    "rejected",
    "messages",
    "Sends per day by outcome",
    "Failed or unknown sends per day by WeChat errcode",
    "WeChat call latency by API",
    "WeChat API",
    "milliseconds",
)


@bp.before_request
def require_admin_password() -> Response | None:
    expected = current_app.config.get("ADMIN_PASSWORD")
    if not expected:
        raise NotFound()
    ip = client_ip()
    credentials = request.authorization
    given = credentials.password if credentials is not None and credentials.type == "basic" else None
    if not given:  # no password at all is a browser's first request, before it asks for one: no guess
        ratelimit.check_failures("admin", ip, MAX_FAILURES)  # a held client is told so all the same
        return _ask_for_password()
    # Counted before the password is compared, in one step with the limit: a held guesser learns
    # nothing, and concurrent guesses can't all pass one check (at most MAX_FAILURES compared).
    guess = ratelimit.attempt("admin", ip, MAX_FAILURES)
    # compare_digest: the time taken must not tell how much of a guess was right.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("admin log-in failed", extra={"client_ip": ip, "failures_last_minute": guess.count})
        return _ask_for_password()
    guess.succeeded()
    return None


def _ask_for_password() -> Response:
    response = error_response("unauthorized", "Log in with the admin password (HTTP Basic, any user name).", 401)
    response.headers["WWW-Authenticate"] = AUTHENTICATE
    return response


@bp.after_request
def protect_response(response: Response) -> Response:
    # Figures about users and failures: never kept by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    nonce = g.get("csp_nonce")
    if nonce:
        # Only our own files and the page's one inline script (by nonce) may run.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    return response


def window_days() -> int:
    """The `days` query parameter: how many UTC days the time series cover."""
    raw = request.args.get("days", str(DEFAULT_DAYS))
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= stats.MAX_DAYS:
        raise InvalidRequest(details={"days": f"must be a whole number of days from 1 to {stats.MAX_DAYS}"})
    return days


def selected_app() -> str | None:
    """The `app` query parameter (the app selector): one appid served here, or None for all apps."""
    appid = request.args.get("app") or None
    if appid is not None and current_app.extensions["apps"].get(appid) is None:
        raise InvalidRequest(details={"app": "is not an appid this backend serves"})
    return appid


def page_language() -> tuple[str, bool]:
    """The page's language, and whether the operator chose it just now (`?lang=`, to remember)."""
    chosen = i18n.language_of_tag(request.args.get("lang", ""))
    if chosen is not None:
        return chosen, True
    remembered = request.cookies.get(LANGUAGE_COOKIE, "")
    if remembered in i18n.LANGUAGES:
        return remembered, False
    return i18n.negotiate(request.accept_languages), False


def gettext(language: str):
    """The page's `_("English", name=value)`: the string in `language`, its values escaped."""

    def _(text: str, **params) -> Markup:
        translated = i18n.translate(text, language, catalogues=i18n.DASHBOARD_CATALOGUES).text
        return Markup(translated).format(**params) if params else Markup(translated)  # noqa: S704 (our catalogue)

    return _


@bp.get("", strict_slashes=False)
def get_dashboard():
    language, chosen = page_language()
    try:
        days, app_id = window_days(), selected_app()
    except InvalidRequest as exc:  # a browser's address bar: an HTML page, not the API's JSON
        body = exc.body()["error"]
        page = render_template(
            "admin/error.html",
            message=body["message"],
            details=body["details"],
            default_days=DEFAULT_DAYS,
            language=language,
            _=gettext(language),
        )
        return page, exc.status, {"Content-Type": "text/html; charset=utf-8", "Content-Language": language}
    g.csp_nonce = secrets.token_urlsafe(16)
    _ = gettext(language)
    response = Response(
        render_template(
            "admin/dashboard.html",
            data=_dashboard(days, app_id),
            window_choices=WINDOW_CHOICES,
            csp_nonce=g.csp_nonce,
            language=language,
            language_choices=LANGUAGE_CHOICES,
            chart_text={text: str(_(text)) for text in CHART_TEXTS},
            _=_,
        ),
        mimetype="text/html",
    )
    response.headers["Content-Language"] = language
    response.vary.update(("Accept-Language", "Cookie"))
    if chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_COOKIE_AGE,
            path=bp.url_prefix,
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    return response


@bp.get("/api/dashboard")
def get_dashboard_data():
    """Every figure of the page at once."""
    return _dashboard(window_days(), selected_app())


def _dashboard(days: int, app_id: str | None) -> dict:
    return {
        **stats.dashboard(days, app_id),
        "webhooks": webhooks.problem_deliveries(),
        "retention": retention.purged_totals(),
    }


@bp.get("/api/consent")
def get_consent():
    return stats.consent_by_template(stats.Window.last(window_days()), app_id=selected_app())


@bp.get("/api/credits")
def get_credits():
    return stats.credits_outstanding(selected_app())


@bp.get("/api/sends")
def get_sends():
    return stats.sends(stats.Window.last(window_days()), selected_app())


@bp.get("/api/failures")
def get_failures():
    return {"failures": stats.recent_failures(app_id=selected_app())}


@bp.get("/api/unknown")
def get_unknown():
    return stats.unknown_messages(app_id=selected_app())


@bp.get("/api/latency")
def get_latency():
    return {"latency": stats.wechat_latency()}


@bp.get("/api/webhooks")
def get_webhooks():
    """Webhook deliveries failing (retrying) or dead (given up), newest first."""
    return webhooks.problem_deliveries()
