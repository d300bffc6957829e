"""The API's error classes and the one handler that renders every error as docs/api.md says.

`{"error": {"code": "<snake_case>", "message": "<for a human>", "details": {...}}}`
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
import redis
from flask import Flask, Response, current_app, has_request_context, jsonify, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from backend import i18n
from backend.wechat import errors as wx_errors

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "An unexpected error occurred."

# The database is down, unreachable or too busy (SQLite's lock wait ran out, a statement
# time-out). The send path's PostgreSQL statements go through psycopg directly
# (db/autocommit.py), hence its own classes.
DATABASE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


class ApiError(Exception):
    """Base of every error a client can branch on; subclasses set code and status.

    `message` is an English template: its {placeholders} are filled from `params`, and the
    client reads it in its own language (backend/i18n: the catalogue is keyed by the template).
    """

    code = "invalid_request"
    status = 400
    message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = message or self.message
        self.params = dict(params or {})
        self.message = i18n.translate(self.template, i18n.ENGLISH, self.params).text  # logs, CLI
        super().__init__(self.message)
        self.details = details or {}
        if status is not None:
            self.status = status

    def body(self, language: str = i18n.ENGLISH) -> dict[str, Any]:
        """The API's error shape for this error, its message in `language`."""
        return error_body(self.code, i18n.translate(self.template, language, self.params).text, self.details)

    def response(self) -> Response:
        """The answer to the current request: the message in the language it asks for."""
        response = error_response(self.code, self.template, self.status, self.details, self.params)
        if isinstance(self.details.get("retry_after"), int):
            response.headers["Retry-After"] = str(self.details["retry_after"])
        return response


class InvalidRequest(ApiError):
    """The body or query failed validation; details map a field to its reason."""


class Unauthorized(ApiError):
    """Missing, bad or expired session token or API key."""

    code, status, message = "unauthorized", 401, "Authentication is required."


class WeChatCodeInvalid(ApiError):
    """WeChat rejected a login or phone code (40029, 40163)."""

    code, status, message = "wechat_code_invalid", 401, "WeChat rejected the code; get a new one."


class WeChatUserBlocked(ApiError):
    """WeChat flags the user as high-risk (40226)."""

    code, status, message = "wechat_user_blocked", 403, "WeChat blocked this user's login."


class Forbidden(ApiError):
    """The API key is valid but may not act for the app named (keys listed under one app in WX_APPS_FILE)."""

    code, status, message = "forbidden", 403, "This API key may not act for this app."


class AppNotFound(ApiError):
    """The `appid` named is not one of the apps this backend serves."""

    code, status, message = "app_not_found", 404, "No such app."


class NotFound(ApiError):
    """No such resource."""

    code, status, message = "not_found", 404, "Not found."


class UserNotFound(ApiError):
    """No user matches the recipient (openid, user_id, external_id or phone number) or the id."""

    code, status, message = "user_not_found", 404, "No such user."


class UserErased(ApiError):
    """The user was erased (users/erasure.py): nothing of them is left to send to, read or bind."""

    code, status, message = "user_erased", 410, "This user was erased."


class AmbiguousRecipient(ApiError):
    """Several users of the app share the phone number a send names; `details.user_ids` lists
    them, so the caller can send by `user_id` or bind an `external_id` instead."""

    code, status, message = "ambiguous_recipient", 409, "Several users have that phone number."


class ExternalIdTaken(ApiError):
    """The external_id is bound to another user of the app (`details.user_id`); unbind it there first."""

    code, status, message = "external_id_taken", 409, "That external_id is bound to another user."


class BindingCodeInvalid(ApiError):
    """The binding code is unknown, expired or already used; the business system must issue a new one."""

    code, status, message = "binding_code_invalid", 400, "The binding code is invalid, expired or already used."


class ConsentRequired(ApiError):
    """No send credit is left for this user and template; nothing was sent."""

    code, status, message = "consent_required", 409, "The user has no send credit for this template."


class MainSwitchOff(ApiError):
    """The user switched every subscribe message off (wx.getSetting's mainSwitch); nothing was sent."""

    code, status = "main_switch_off", 409
    message = "The user switched subscribe messages off in the mini program's settings."


class ConsentRevoked(ApiError):
    """WeChat answered 43101: the user's credits for the template are now 0."""

    code, status, message = "consent_revoked", 409, "WeChat says the user refuses this template."


class NotCancelable(ApiError):
    """Only a `scheduled` or `queued` message can be canceled: this one is being sent, or is
    settled (`details.status` says which)."""

    code, status, message = "not_cancelable", 409, "Only a scheduled, queued or held message can be canceled."


class InvalidTemplateData(ApiError):
    """A value breaks its keyword type's rule; nothing was sent, no credit used."""

    code, status, message = "invalid_template_data", 422, "Template data breaks WeChat's rules."


class WeChatRejected(ApiError):
    """WeChat refused the request itself; the credit is returned."""

    code, status, message = "wechat_rejected", 422, "WeChat refused the request."


class WrongTemplateKind(ApiError):
    """A device template on an ordinary endpoint, or another template on a device endpoint
    (docs/wechat.md §11); refused before any WeChat call."""

    code, status, message = "wrong_template_kind", 422, "This template is not of the kind this endpoint takes."


class TemplateBanned(ApiError):
    """WeChat banned the template (43107); the credit is returned and further sends are refused
    without calling WeChat until `flask wx templates sync` finds the template listed again."""

    code, status, message = "template_banned", 422, "WeChat has banned this template; nothing was sent."


class IdempotencyConflict(ApiError):
    """An Idempotency-Key was reused with a different request."""

    code, status, message = "idempotency_conflict", 422, "This Idempotency-Key was used for another request."


class RateLimited(ApiError):
    """Too many requests: ours, or WeChat's 45009 / 45011."""

    code, status, message = "rate_limited", 429, "Too many requests; slow down."


class DatabaseUnavailable(ApiError):
    """The database does not answer (`GET /healthz`)."""

    code, status, message = "database_unavailable", 503, "The database does not answer."


class ServiceUnavailable(ApiError):
    """A dependency other than the database (Redis) is down and the request can't be served
    without it; nothing was done. `Retry-After` says when to try again."""

    code, status, message = "service_unavailable", 503, "A service the backend needs is down; try again later."


class AppUnauthorized(ApiError):
    """A third-party platform's merchant app revoked the authorization, or never granted permission set 18."""

    code, status, message = (
        "app_unauthorized",
        409,
        "The merchant app has not authorized this platform for subscribe messages; nothing can be done for it.",
    )


class WeChatUnavailable(ApiError):
    """WeChat kept failing (-1, 5xx, time-outs) after bounded retries."""

    code, status, message = "wechat_unavailable", 503, "WeChat is unavailable; try again later."


# What "Redis is down" looks like (refused, unreachable, timed out, loading, bad password);
# any other RedisError is a bug of ours.
REDIS_DOWN_ERRORS = (redis.ConnectionError, redis.TimeoutError)


MAX_DETAIL_LENGTH = 200  # characters of one key or text in `details`: what a caller sent is echoed cut


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": _cut(details or {})}}


def _cut(value: Any) -> Any:
    """`details` with every key and text at most MAX_DETAIL_LENGTH characters (a 100 KB field
    name or template id a caller sent is not echoed in full)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DETAIL_LENGTH else value[: MAX_DETAIL_LENGTH - 1] + "…"
    if isinstance(value, dict):
        return {_cut(key): _cut(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(item) for item in value]
    return value


def error_response(
    code: str, message: str, status: int, details: dict[str, Any] | None = None, params: Mapping[str, Any] | None = None
) -> Response:
    """The error shape as a response, `message` (an English template) in the request's language."""
    language = i18n.negotiate(request.accept_languages) if has_request_context() else i18n.ENGLISH
    text = i18n.translate(message, language, params)
    response = jsonify(error_body(code, text.text, details))
    response.status_code = status
    response.headers["Content-Language"] = text.language
    response.vary.add("Accept-Language")
    return response


def http_error_code(exc: HTTPException) -> str:
    """The error code of a Werkzeug HTTP error: its name in snake_case (400 is invalid_request)."""
    if exc.code == 400:
        return "invalid_request"
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register_error_handlers(app: Flask) -> None:
    """Route every error, ours or Werkzeug's, through the one JSON shape."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Response:
        response = error_response(http_error_code(exc), exc.description or exc.name, exc.code or 500)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    # The database is down, unreachable or too busy: a passing condition, so 503 and not a 500.
    def handle_database_unavailable(exc: Exception) -> Response:
        log.error("database unavailable", extra={"error": type(exc).__name__})  # its text may name the host
        return error_response(DatabaseUnavailable.code, DatabaseUnavailable.message, DatabaseUnavailable.status)

    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, handle_database_unavailable)

    # Every use of Redis has a fallback (backend/infra/redis_link.py); this is the net under them.
    def handle_redis_unavailable(exc: Exception) -> Response:
        log.error("redis unavailable", extra={"error": type(exc).__name__})
        retry_after = max(1, round(current_app.config["REDIS_RETRY_AFTER"]))
        return handle_api_error(ServiceUnavailable(details={"retry_after": retry_after}))

    for redis_down in REDIS_DOWN_ERRORS:
        app.register_error_handler(redis_down, handle_redis_unavailable)

    # A platform's token chain can't serve the app now (docs/wechat.md §14): its own answers.
    @app.errorhandler(wx_errors.PlatformError)
    def handle_platform_error(exc: wx_errors.PlatformError) -> Response:
        return platform_error(exc).response()

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response("internal_error", INTERNAL_ERROR_MESSAGE, 500)


TICKET_RETRY_AFTER = 60  # seconds: WeChat pushes a ticket soon after api_start_push_ticket, else within 10 min


def platform_error(exc: wx_errors.PlatformError) -> ApiError:
    """The API's answer when a third-party platform's chain fails (each names its errcode)."""
    details: dict[str, Any] = {"appid": exc.appid} if exc.appid else {}
    if exc.errcode:
        details["errcode"] = exc.errcode
    if isinstance(exc, wx_errors.AppNotAuthorized):  # 61003 revoked, 61007 set not granted
        return AppUnauthorized(details=details)
    if isinstance(exc, wx_errors.PlatformIPRefused):  # 61004
        return ServiceUnavailable(
            "WeChat refused this machine's IP: add this machine's IP to the platform's whitelist.", details=details
        )
    if isinstance(exc, wx_errors.TicketUnavailable):  # none yet, or 61005 expired / 61006 invalid
        return ServiceUnavailable(
            "The platform has no valid component_verify_ticket; WeChat was asked to push one. Try again shortly.",
            details={**details, "retry_after": TICKET_RETRY_AFTER},
        )
    if isinstance(exc, wx_errors.RefreshTokenLost):  # 61023 and the authorizer list did not help
        return ServiceUnavailable(
            "The merchant app's refresh token is lost; run wx component recover.", details=details
        )
    return ServiceUnavailable(details=details)


def database_first_line(exc: BaseException) -> str:
    """The driver's own first line (it names host and port, never the password)."""
    original = getattr(exc, "orig", None) or exc
    return next((line.strip() for line in str(original).splitlines() if line.strip()), type(original).__name__)


def describe_database_error(exc: BaseException) -> str:
    return f"cannot use the database: {database_first_line(exc)}"
