"""Where each app's events go: its own `webhook_url` and `webhook_secret` from WX_APPS_FILE, else
WEBHOOK_URL and WEBHOOK_SECRET, else nowhere (no event is written for that app).

Read from the running config at each call: cheap (a dict look-up), and never stale.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask, current_app


class Target(NamedTuple):
    url: str
    secret: str
    own: bool  # the app's own receiver (WX_APPS_FILE), not WEBHOOK_URL

    def __repr__(self) -> str:  # never the secret, nor the URL (it may hold a token)
        return f"<Target own={self.own}>"


def target(appid: str, app: Flask | None = None) -> Target | None:
    """The receiver of app `appid`'s events; None when it has none."""
    app = app or current_app
    mini_program = app.extensions["apps"].get(appid)
    if mini_program is not None and mini_program.settings.webhook_url:
        return Target(mini_program.settings.webhook_url, mini_program.settings.webhook_secret, True)
    if app.config["WEBHOOK_URL"]:
        return Target(app.config["WEBHOOK_URL"], app.config["WEBHOOK_SECRET"], False)
    return None


def targets(app: Flask | None = None) -> dict[str, Target | None]:
    """{appid: its receiver or None} of every app served."""
    app = app or current_app
    return {mini_program.appid: target(mini_program.appid, app) for mini_program in app.extensions["apps"]}


def any_target(app: Flask | None = None) -> bool:
    """Does any app's event go anywhere? (False: nothing is written, no runner runs.)"""
    app = app or current_app
    # A platform's merchant apps have no receiver of their own: only the configured apps can.
    return bool(app.config["WEBHOOK_URL"]) or any(
        mini_program.settings.webhook_url for mini_program in app.extensions["apps"].configured()
    )
