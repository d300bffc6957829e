"""One blueprint per resource."""

from flask import Flask, request

from backend.errors import InvalidRequest, NotFound


def _refuse_nul() -> None:
    """No id or filter holds NUL, and PostgreSQL refuses it in a query: a 4xx, never a 500."""
    if "\x00" in request.path:
        raise NotFound()
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        raise InvalidRequest(details={"query": "must not contain NUL characters"})


def register_blueprints(app: Flask) -> None:
    app.before_request(_refuse_nul)
    from backend.api import admin, auth, batches, devices, docs, health, messages, push, subscriptions, users

    for module in (health, auth, subscriptions, devices, messages, batches, users, push, admin, docs):
        app.register_blueprint(module.bp)
