"""Authentication guards for views: the mini program's session token, business API keys.

Each guard also settles the request's app and leaves it in `g.mini_program` for the view to pass down
(services never look it up): the app of the session token, or the app a business call names
in its `appid` (body or query) within what its key may act for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from backend.apps import MiniProgram, MiniPrograms
from backend.errors import AppNotFound, AppUnauthorized, Forbidden, InvalidRequest, Unauthorized
from backend.extensions import db
from backend.infra import ratelimit
from backend.models import User
from backend.users import binding
from backend.users.sessions import user_from_token


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`Authorization: Bearer <session token>`; the user lands in `g.user` (a `SessionUser`: id,
    app_id, token_version; `current_user()` loads the row), its app in `g.mini_program`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the session token as 'Authorization: Bearer <token>'.")
        g.user, g.mini_program = user_from_token(token.strip(), registry())
        require_authorized(g.mini_program)
        return view(*args, **kwargs)

    return wrapper


def current_user() -> User:
    """The logged-in user's row, for the views that read or change more than its id and app."""
    user = db.session.get(User, g.user.id)
    if user is None:  # users are never deleted; a token of a user that is gone is no token
        raise Unauthorized("The session token is invalid.")
    if user.erased_at is not None:  # another process erased them within SESSION_VERSION_TTL (sessions.py)
        raise Unauthorized("The session token was revoked; log in again.")
    return user


def api_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`X-Api-Key: <a key of BUSINESS_API_KEYS, or of one app in WX_APPS_FILE>`; the app it acts
    for lands in `g.mini_program` (`scoped_app`), the appids a read may see in `g.apps`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = request.headers.get("X-Api-Key", "")
        scope = registry().key_scope(given) if given else None
        if scope is None:
            raise Unauthorized("Send a valid business API key in X-Api-Key.")
        g.api_key = given
        appid = _named_appid()
        if appid is None and len(scope) > 1 and request.method == "POST":
            appid = _app_of_named_user(scope)
        if appid is None and len(scope) > 1 and request.method != "POST":
            # A read (or a change to a user named by id, which implies its app) spans every app
            # the key may act for; only a POST writes something new that must belong to one app.
            g.mini_program, g.apps = None, scope
        else:
            g.mini_program = scoped_app(scope, appid)
            g.apps = (g.mini_program.appid,)
            if request.method == "POST":  # sends, batches, bindings: not for a revoked merchant app
                require_authorized(g.mini_program)
        return view(*args, **kwargs)

    return wrapper


def require_authorized(mini_program: MiniProgram) -> None:
    """409 `app_unauthorized` for a platform's merchant app that is frozen or lacks permission set 18:
    checked before the recipient, the values and the credit, and without a WeChat call."""
    if not mini_program.usable:
        raise AppUnauthorized(details={"appid": mini_program.appid, "state": mini_program.state_word})


def registry() -> MiniPrograms:
    return current_app.extensions["apps"]


def _named_appid() -> Any:
    """The `appid` the request names: in the JSON body, else in the query; None when it names none."""
    body = request_json() if request.method in ("POST", "PUT", "PATCH") else None
    if isinstance(body, dict) and body.get("appid") is not None:
        return body["appid"]
    return request.args.get("appid") or None


def _app_of_named_user(scope: tuple[str, ...]) -> str | None:
    """The app of the user a body names by `user_id` (a user id implies its app): searched within
    the key's apps only, so that a user of another app is 404 `user_not_found`, as if it did not
    exist. None when the body names no user id (the schema then judges the body)."""
    body = request_json()
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    return binding.get_user(scope, user_id).app_id


def scoped_app(scope: tuple[str, ...], appid: Any) -> MiniProgram:
    """The app a business call acts for: the one it names, which its key must be allowed; or, when it
    names none, the key's only app. 400 when a key of several apps names none, 403 `forbidden` for an
    app the key may not act for, 404 `app_not_found` for an appid this backend does not serve."""
    if appid is None:
        if len(scope) != 1:
            raise InvalidRequest(
                "Name the app: this API key may act for several apps.",
                {"appid": "required: the key may act for several apps"},
            )
        return registry().get(scope[0])
    mini_program = named_app(appid)
    if mini_program.appid not in scope:
        raise Forbidden(details={"appid": mini_program.appid})
    return mini_program


def named_app(appid: Any) -> MiniProgram:
    """The app of `appid`: 400 for what is not an appid, 404 `app_not_found` for one not served here."""
    if not isinstance(appid, str) or not appid:
        raise InvalidRequest("The request failed validation.", {"appid": "must be a non-empty string"})
    mini_program = registry().get(appid)
    if mini_program is None:
        raise AppNotFound(details={"appid": appid[:64]})
    return mini_program


def login_app(appid: Any) -> MiniProgram:
    """The app a log-in is for: the one it names; when it names none, the only app configured
    (with several, naming it is required: 400)."""
    if appid is not None:
        mini_program = named_app(appid)
        require_authorized(mini_program)
        return mini_program
    apps = registry()
    if len(apps) != 1:
        raise InvalidRequest(
            "Name the app: several apps are configured.", {"appid": "required: several apps are configured"}
        )
    mini_program = apps.only()
    require_authorized(mini_program)
    return mini_program


# No body of this API nests more than a few levels; deeper JSON is refused outright, so that
# nothing after parsing (the idempotency hash, error rendering) can exhaust the stack.
MAX_JSON_DEPTH = 32
_UNCHECKED = object()


def request_json() -> Any:
    """The request's parsed JSON, or None when it has none or it is not JSON (like
    `request.get_json(silent=True)`); InvalidRequest for JSON that can't be processed safely.

    Flask's silent parse only absorbs ValueError: JSON nested deeper than the interpreter's
    recursion limit raised RecursionError, a 500. And a `\\ud800` escape decodes to a lone
    surrogate that no UTF-8 encoder accepts, so it failed later with a 500 (the idempotency
    hash, SQLite, the JSON response) or reached the database (PostgreSQL refuses it in JSON).
    """
    checked = g.get("checked_json", _UNCHECKED)
    if checked is not _UNCHECKED:  # the guards and the view read it once per request
        return checked
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
    g.checked_json = body
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
