"""The Flask application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

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
    os.makedirs(app.instance_path, exist_ok=True)  # the default SQLite file lives there
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    configure_logging(app)
    register_error_handlers(app)

    from backend.api import register_blueprints

    register_blueprints(app)

    from backend.cli import register_cli

    register_cli(app)

    from backend.wechat import build_client

    with app.app_context():
        app.extensions["wechat"] = build_client(app.config, db.engine)
    return app


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: WAL and a busy timeout, so that concurrent writers queue instead of failing."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
