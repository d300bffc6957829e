"""Authentication guards for views: the mini program's session token, business API keys."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from backend.errors import InvalidRequest, Unauthorized
from backend.services import ratelimit
from backend.services.sessions import api_key_matches, user_from_token


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`Authorization: Bearer <session token>`; the user lands in `g.user`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the session token as 'Authorization: Bearer <token>'.")
        g.user = user_from_token(token.strip())
        return view(*args, **kwargs)

    return wrapper


def api_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`X-Api-Key: <one of BUSINESS_API_KEYS>`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = request.headers.get("X-Api-Key", "")
        if not given or not api_key_matches(given):
            raise Unauthorized("Send a valid business API key in X-Api-Key.")
        g.api_key = given
        return view(*args, **kwargs)

    return wrapper


# No body of this API nests more than a few levels; deeper JSON is refused outright, so that
# nothing after parsing (the idempotency hash, error rendering) can exhaust the stack.
MAX_JSON_DEPTH = 32


def request_json() -> Any:
    """The request's parsed JSON, or None when it has none or it is not JSON (like
    `request.get_json(silent=True)`); InvalidRequest for JSON that can't be processed safely.

    Flask's silent parse only absorbs ValueError: JSON nested deeper than the interpreter's
    recursion limit raised RecursionError, a 500. And a `\\ud800` escape decodes to a lone
    surrogate that no UTF-8 encoder accepts, so it failed later with a 500 (the idempotency
    hash, SQLite, the JSON response) or reached the database (PostgreSQL refuses it in JSON).
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise InvalidRequest("The body is nested too deeply.", {"body": "nested too deeply"}) from None
    if body is None:
        return None
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise InvalidRequest("The body is nested too deeply.", {"body": f"nested deeper than {MAX_JSON_DEPTH} levels"})
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidRequest("The body is not valid Unicode.", {"body": "contains a lone UTF-16 surrogate"}) from None
    return body


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` arrays and objects (without recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def rate_limit(
    scope: str, setting: str, identity: Callable[[], str]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """At most `config[setting]` requests a minute per `identity()` (after the auth guard)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ratelimit.check(scope, identity(), current_app.config[setting])
            return view(*args, **kwargs)

        return wrapper

    return decorate


def client_ip() -> str:
    return request.remote_addr or "unknown"


def current_user_id() -> str:
    return str(g.user.id)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 in the API's error shape."""
    body = request_json()
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", {"body": "expected a JSON object"})
    return body
