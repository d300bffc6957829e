"""The `Idempotency-Key` header for POST views (the rules are in services/idempotency.py)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request

from backend.api.guards import request_json
from backend.errors import ApiError
from backend.services import idempotency


def _scope() -> str:
    # Keys are per caller: a user's session or a business API key (hashed, never stored).
    if "user" in g:
        return f"user:{g.user.id}"
    return "key:" + hashlib.sha256(g.get("api_key", "").encode()).hexdigest()[:32]


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Apply after the auth guard: the same key and body replay the first answer."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        # request_json, not request.get_json: it refuses (400) the JSON that can't be hashed.
        fingerprint = idempotency.request_hash(request.method, request.path, request_json())
        claimed = idempotency.begin(f"{_scope()}:{request.endpoint}", key, fingerprint)
        if isinstance(claimed, idempotency.Replay):
            response = jsonify(claimed.body)
            response.status_code = claimed.status
            response.headers["Idempotent-Replayed"] = "true"
            if claimed.language:
                response.headers["Content-Language"] = claimed.language
            return response
        try:
            response = view(*args, **kwargs)
            body, status = (response if isinstance(response, tuple) else (response, 200))[:2]
        except ApiError as exc:
            answer = exc.response()  # what the error handler will send, in the request's language
            idempotency.finish(claimed, exc.status, answer.get_json(), answer.headers["Content-Language"])
            raise
        except Exception:
            idempotency.finish(claimed, 500, {})
            raise
        idempotency.finish(claimed, status, body)
        return response

    return wrapper
