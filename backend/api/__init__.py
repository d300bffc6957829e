"""One blueprint per resource."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from backend.api import auth, batches, health, messages, push, subscriptions

    for module in (health, auth, subscriptions, messages, batches, push):
        app.register_blueprint(module.bp)
