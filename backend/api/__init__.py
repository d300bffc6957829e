"""One blueprint per resource."""

from flask import Flask, request
from flask.sessions import SessionInterface

from backend.errors import InvalidRequest, NotFound


def _refuse_nul() -> None:
    """No id or filter holds NUL, and PostgreSQL refuses it in a query: a 4xx, never a 500."""
    if "\x00" in request.path:
        raise NotFound()
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        raise InvalidRequest(details={"query": "must not contain NUL characters"})


class NoCookieSessions(SessionInterface):
    """No view uses Flask's cookie session (callers authenticate with a header on every call), so no
    request opens one: Flask's default builds a signing serializer per request for nothing."""

    def open_session(self, app: Flask, request) -> None:
        return None  # Flask then uses a NullSession: writing to it is an error

    def save_session(self, app: Flask, session, response) -> None:
        return None


def register_blueprints(app: Flask) -> None:
    app.session_interface = NoCookieSessions()
    app.before_request(_refuse_nul)
    from backend.api import (
        admin,
        auth,
        batches,
        component,
        devices,
        docs,
        health,
        messages,
        privacy,
        prompts,
        push,
        quota,
        subscriptions,
        users,
    )

    for module in (
        health,
        auth,
        subscriptions,
        prompts,
        devices,
        messages,
        batches,
        users,
        privacy,
        quota,
        push,
        component,
        admin,
        docs,
    ):
        app.register_blueprint(module.bp)
