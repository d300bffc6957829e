"""One blueprint per resource."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from backend.api import auth, health, messages, push, subscriptions

    for module in (health, auth, subscriptions, messages, push):
        app.register_blueprint(module.bp)
