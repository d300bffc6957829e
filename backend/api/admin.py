"""`/admin`: the operator's dashboard, and its figures as JSON under `/admin/api/`.

Guarded by ADMIN_PASSWORD with HTTP Basic auth (any user name), so a browser asks for it
and a script sends it with `curl -u admin:$ADMIN_PASSWORD`. Without ADMIN_PASSWORD the
dashboard does not exist: every path under /admin answers 404.

Wrong passwords are limited per client IP: after MAX_FAILURES in a minute, every request
from that IP is 429 `rate_limited` (the right password too) until the oldest of them is a
minute old, so the password can't be guessed at speed. Each wrong password is logged with
the IP (never what was typed).
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, Response, current_app, g, render_template, request

from backend import webhooks
from backend.api.guards import client_ip
from backend.errors import InvalidRequest, NotFound, error_response
from backend.infra import ratelimit
from backend.ops import stats

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

AUTHENTICATE = 'Basic realm="wx-subscribe admin"'
MAX_FAILURES = 10  # wrong passwords per client IP in a minute
DEFAULT_DAYS = 14
WINDOW_CHOICES = (1, 7, 14, 30, 90)


@bp.before_request
def require_admin_password() -> Response | None:
    expected = current_app.config.get("ADMIN_PASSWORD")
    if not expected:
        raise NotFound()
    ip = client_ip()
    ratelimit.check_failures("admin", ip, MAX_FAILURES)  # before the password: a held guesser learns nothing
    credentials = request.authorization
    given = credentials.password if credentials is not None and credentials.type == "basic" else None
    # compare_digest: the time taken must not tell how much of a guess was right.
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        if given:  # no password at all is a browser's first request, before it asks for one
            failures = ratelimit.count_failure("admin", ip)
            log.warning("admin log-in failed", extra={"client_ip": ip, "failures_last_minute": failures})
        response = error_response("unauthorized", "Log in with the admin password (HTTP Basic, any user name).", 401)
        response.headers["WWW-Authenticate"] = AUTHENTICATE
        return response
    return None


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


@bp.get("", strict_slashes=False)
def get_dashboard():
    try:
        days, app_id = window_days(), selected_app()
    except InvalidRequest as exc:  # a browser's address bar: an HTML page, not the API's JSON
        body = exc.body()["error"]
        page = render_template(
            "admin/error.html", message=body["message"], details=body["details"], default_days=DEFAULT_DAYS
        )
        return page, exc.status, {"Content-Type": "text/html; charset=utf-8"}
    g.csp_nonce = secrets.token_urlsafe(16)
    return render_template(
        "admin/dashboard.html",
        data=_dashboard(days, app_id),
        window_choices=WINDOW_CHOICES,
        csp_nonce=g.csp_nonce,
    )


@bp.get("/api/dashboard")
def get_dashboard_data():
    """Every figure of the page at once."""
    return _dashboard(window_days(), selected_app())


def _dashboard(days: int, app_id: str | None) -> dict:
    return {**stats.dashboard(days, app_id), "webhooks": webhooks.problem_deliveries()}


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
