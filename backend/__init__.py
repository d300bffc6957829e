"""The Flask application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, has_app_context
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from backend import metrics, sqlite
from backend.config import load_config
from backend.errors import register_error_handlers
from backend.extensions import db, migrate
from backend.logs import configure_logging


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides settings (tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(instance_path=app.instance_path))
    if config:
        app.config.update(config)
    if app.config["TRUSTED_PROXIES"]:  # the client's IP (per-IP limits, logs) is behind the load balancer
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1)
    os.makedirs(app.instance_path, exist_ok=True)  # the default SQLite file lives there
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        # Writers queue in the process and between processes, not in SQLite's busy handler (backend/sqlite.py).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = sqlite.engine_options(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        sqlite.shorten_gil_turns()
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    db.init_app(app)
    from backend.services import ledger

    ledger.init_app(app)  # PostgreSQL's or SQLite's, chosen once
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    configure_logging(app)
    register_error_handlers(app)
    metrics.init_metrics(app)

    from backend.api import register_blueprints

    register_blueprints(app)

    from backend.cli import register_cli

    register_cli(app)

    from backend.redis_link import build_link
    from backend.services import send_lock
    from backend.services.dispatch import build_dispatcher
    from backend.wechat import build_client

    app.extensions["redis"] = build_link(app)
    with app.app_context():
        app.extensions["wechat"] = build_client(
            app.config,
            db.engine,
            redis_link=app.extensions["redis"],
            before_call=_end_db_transaction,
            on_call=metrics.record_wechat_call,
            on_token_refresh=metrics.record_token_refresh,
        )
        send_lock.init_app(app, db.engine)
    app.extensions["dispatcher"] = build_dispatcher(app)
    return app


def _end_db_transaction() -> None:
    """Never hold a transaction across a WeChat call (DESIGN.md); services commit their work
    before calling, so this only ends a read. On SQLite an open write transaction would also
    hold the writer lock that the token store needs."""
    if has_app_context() and db.session().in_transaction():
        db.session.commit()


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"
