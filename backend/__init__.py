"""The Flask application factory."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from backend.config import load_config
from backend.db import sqlite
from backend.errors import register_error_handlers
from backend.extensions import db, migrate
from backend.ops import metrics
from backend.ops.logs import configure_logging


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides settings (tests use it)."""
    app = Flask(__name__, instance_relative_config=True, template_folder="pages")
    app.config.update(load_config(instance_path=app.instance_path))
    if config:
        app.config.update(config)
    if app.config["TRUSTED_PROXIES"]:  # the client's IP (per-IP limits, logs) is behind the load balancer
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1)
    os.makedirs(app.instance_path, exist_ok=True)  # the default SQLite file lives there
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        # Writers queue in the process and between processes, not in SQLite's busy handler (backend/db/sqlite.py).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = sqlite.engine_options(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        sqlite.shorten_gil_turns()
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    db.init_app(app)
    from backend.consent import ledger

    ledger.init_app(app)  # PostgreSQL's or SQLite's, chosen once
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    configure_logging(app)
    register_error_handlers(app)
    metrics.init_metrics(app)

    from backend.api import register_blueprints

    register_blueprints(app)

    from backend.ops import gauges
    from backend.ops.cli import register_cli

    register_cli(app)
    gauges.init_app(app)  # /metrics figures read from the database

    from backend import webhooks
    from backend.delivery.queue import build_queue
    from backend.infra.redis_link import build_link
    from backend.sending import send_lock

    app.extensions["redis"] = build_link(app)
    with app.app_context():
        app.extensions["apps"] = build_apps(app)
        send_lock.init_app(app, db.engine)
    app.extensions["queue"] = build_queue(app)  # what carries batch message ids to delivery
    webhooks.init_app(app)  # the web process's webhook runner, from its first request
    return app


def build_apps(app: Flask):
    """The registry of the configured apps (backend/apps.py), each with a WeChat client of its own:
    its own token entry (`<token api>:<appid>`) in the shared store and its own refresh lock; with a
    third-party platform, its merchants' apps too (`authorizer:<appid>`, backend/component)."""
    from backend.apps import build_registry, component_settings
    from backend.db.transactions import end_read_before_wechat, track_writes
    from backend.infra.token_storage import token_store
    from backend.wechat import WeChatClient

    track_writes()
    config, engine, redis_link = app.config, db.engine, app.extensions["redis"]

    def new_client(appid: str, secret: str, store_name: str, **options) -> WeChatClient:
        return WeChatClient(
            appid,
            secret,
            api_base=config["WX_API_BASE"],
            token_store=token_store(engine, store_name, redis_link),
            token_api=config["WX_TOKEN_API"],
            timeout=(config["WX_CONNECT_TIMEOUT"], config["WX_READ_TIMEOUT"]),
            max_attempts=config["WX_MAX_ATTEMPTS"],
            backoff=config["WX_RETRY_BACKOFF"],
            before_call=end_read_before_wechat,
            on_call=partial(metrics.record_wechat_call, appid),  # counted per app
            on_token_refresh=partial(metrics.record_token_refresh, appid),
            **options,
        )

    def make_client(settings) -> WeChatClient:
        return new_client(settings.appid, settings.secret, f"{config['WX_TOKEN_API']}:{settings.appid}")

    platform = None
    component = component_settings(config)
    if component is not None:
        from backend.component import events
        from backend.component.merchants import Platform
        from backend.infra.data_keys import DataKeys

        platform = Platform(component, engine, DataKeys.from_config(config), new_client, config["WX_MINIPROGRAM_STATE"])
        platform.on_frozen = partial(events.revoke_in_app, app, platform)
    from backend.component.keys import app_of_key

    return build_registry(config, make_client, platform, partial(app_of_key, engine))


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"
