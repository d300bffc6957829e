"""The `Idempotency-Key` header for POST views (the rules are in infra/idempotency.py)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request

from backend.api.guards import request_json
from backend.errors import ApiError
from backend.infra import idempotency
from backend.infra.idempotency import AnswerFromEffect, Claim, IdempotencyInProgress, Replay


def _scope() -> str:
    # Keys are per caller: a user's session or a business API key (hashed, never stored).
    if "user" in g:
        return f"user:{g.user.id}"
    return "key:" + hashlib.sha256(g.get("api_key", "").encode()).hexdigest()[:32]


def held_key() -> Claim | None:
    """The key this request holds, for the service that commits its effect (None without one)."""
    return g.get("idempotency_claim")


def idempotent(
    answer_from_effect: AnswerFromEffect, *, lease: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Apply after the auth guard: the same key and body replay the first answer.

    `answer_from_effect` answers a retry from what a first request left when it died (or
    answered 5xx) after committing. `lease=False`: the key is written only with the effect,
    in the service's one transaction (no record before, no in-progress state).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return view(*args, **kwargs)
            # request_json, not request.get_json: it refuses (400) the JSON that can't be hashed.
            fingerprint = idempotency.request_hash(request.method, request.path, request_json())
            scope = f"{_scope()}:{request.endpoint}"
            for _ in range(idempotency.BEGIN_ATTEMPTS):
                claimed = idempotency.begin(
                    g.mini_program.appid, scope, key, fingerprint, answer_from_effect, lease=lease
                )
                if isinstance(claimed, Replay):
                    return _replayed(claimed)
                try:
                    return _run(view, claimed, args, kwargs)
                except idempotency.KeyTaken:
                    continue  # another request committed first: answer from what it left
            raise IdempotencyInProgress()

        return wrapper

    return decorate


def _run(view: Callable[..., Any], claim: Claim, args: tuple, kwargs: dict) -> Any:
    g.idempotency_claim = claim
    try:
        response = view(*args, **kwargs)
        body, status = (response if isinstance(response, tuple) else (response, 200))[:2]
    except idempotency.KeyTaken:
        raise
    except ApiError as exc:
        answer = exc.response()  # what the error handler will send, in the request's language
        idempotency.finish(claim, exc.status, answer.get_json(), answer.headers["Content-Language"])
        raise
    except Exception:
        idempotency.finish(claim, 500, {})
        raise
    finally:
        g.pop("idempotency_claim", None)
    idempotency.finish(claim, status, body)
    return response


def replay_of(error: ApiError) -> Replay:
    """An error as the answer a retry gets (in the retry's language)."""
    answer = error.response()
    return Replay(error.status, answer.get_json(), answer.headers["Content-Language"])


def _replayed(replay: Replay):
    response = jsonify(replay.body)
    response.status_code = replay.status
    response.headers["Idempotent-Replayed"] = "true"
    if replay.language:
        response.headers["Content-Language"] = replay.language
    return response
