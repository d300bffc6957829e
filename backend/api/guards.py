"""Authentication guards for views: the mini program's session token, business API keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from backend.errors import InvalidRequest, Unauthorized
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


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 in the API's error shape."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", {"body": "expected a JSON object"})
    return body
