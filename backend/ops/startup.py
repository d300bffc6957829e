"""Start-up: a configuration mistake ends in one line on stderr and a non-zero exit, never a traceback.

`wsgi.py` builds the app through `create_app_or_exit()` (`flask --app wsgi …` and gunicorn's
workers), and `gunicorn.conf.py` calls `check_or_exit()` in gunicorn's master before it logs
or forks anything, so that a wrong setting or an unreachable database stops gunicorn at once
instead of failing every worker in turn.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import sqlalchemy as sa
from flask import Flask

from backend import create_app
from backend.config import load_config
from backend.errors import DATABASE_ERRORS, describe_database_error
from backend.settings import ConfigError

# gunicorn's "App failed to load": a worker that exits with it stops the master too, instead
# of being booted again and again.
EXIT_CONFIG = 4
CONNECT_TIMEOUT = 5  # seconds: a firewalled host must not hang start-up


def fail(message: str) -> NoReturn:
    """Print `Error: <message>` (the form click uses) as the one line on stderr, and exit."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)


def create_app_or_exit() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        fail(str(exc))


_database_checked = False


def check_or_exit() -> None:
    """The settings are valid and a database server, if one is named, answers.

    The database is checked once per process: gunicorn reads its config file again on HUP,
    and a database that blinks at that moment must not stop a server that is running.
    """
    global _database_checked
    try:
        config = load_config()
    except ConfigError as exc:
        fail(str(exc))
    if _database_checked:
        return
    problem = database_problem(config["SQLALCHEMY_DATABASE_URI"])
    if problem:
        fail(f"DATABASE_URL: {problem}")
    _database_checked = True


def database_problem(url: str) -> str | None:
    """Why the database at `url` can't be used, in one line; None when it answers.

    SQLite is not checked: there is no server, and the app creates the file's directory.
    """
    engine_url = sa.engine.make_url(url)
    if engine_url.get_backend_name() == "sqlite":
        return None
    connect_args = {"connect_timeout": CONNECT_TIMEOUT} if engine_url.get_backend_name() == "postgresql" else {}
    engine = sa.create_engine(engine_url, poolclass=sa.pool.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DATABASE_ERRORS as exc:
        return describe_database_error(exc)
    finally:
        engine.dispose()
    return None
