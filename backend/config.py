"""The Flask config, read from the environment (and a `.env` file) through the table in backend/settings.py."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from backend.apps import app_settings, component_settings
from backend.infra.data_keys import DataKeyError, parse_key
from backend.settings import (
    BY_NAME,
    SECRET_KEY_MIN_LENGTH,
    SETTINGS,
    ConfigError,
    Setting,
    check_encoding_aes_key,
    check_webhook_settings,
)

DATA_KEY_HINT = 'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'

# Every way hosting providers and tutorials write a PostgreSQL URL; each means psycopg 3 here.
_POSTGRES = re.compile(r"^postgres(?:ql)?(?:\+(?P<driver>\w+))?://")


def load_config(environ: Mapping[str, str] | None = None, instance_path: str = "instance") -> dict[str, Any]:
    """Build the Flask config from the environment, `.env` filling what the environment lacks.

    Without WX_APPID and WX_SECRET (or WX_APPS_FILE) the backend runs in *dev mode* against
    the bundled emulator. Any wrong value raises ConfigError naming the variable (README: Configure).
    """
    if environ is None:
        environ = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    appid, secret, apps_file = (
        read_setting(BY_NAME[name], environ) for name in ("WX_APPID", "WX_SECRET", "WX_APPS_FILE")
    )
    if (appid is None) != (secret is None) and apps_file is None:
        missing = "WX_SECRET" if appid else "WX_APPID"
        raise ConfigError(missing, "is not set: set both WX_APPID and WX_SECRET, or neither for dev mode")
    component_appid = read_setting(BY_NAME["WX_COMPONENT_APPID"], environ)
    # A platform without apps of its own is a production deployment, not dev mode (SECRET_KEY, DATA_KEY).
    dev_mode = appid is None and apps_file is None and component_appid is None
    values = {setting.name: read_setting(setting, environ, dev_mode=dev_mode) for setting in SETTINGS}

    secret_key = values["SECRET_KEY"]
    if secret_key is None:
        raise ConfigError("SECRET_KEY", "is required outside dev mode (it signs session tokens)")
    if not dev_mode and len(secret_key) < SECRET_KEY_MIN_LENGTH:
        raise ConfigError(
            "SECRET_KEY",
            f"has {len(secret_key)} characters; outside dev mode it needs at least {SECRET_KEY_MIN_LENGTH}: "
            'python -c "import secrets; print(secrets.token_urlsafe(32))"',
        )
    if values["WX_ENCODING_AES_KEY"] is not None:
        check_encoding_aes_key(values["WX_ENCODING_AES_KEY"])
    check_webhook_settings(values["WEBHOOK_URL"], values["WEBHOOK_SECRET"])
    if values["DATA_KEY"] is None and not dev_mode:
        # Dev mode derives one from SECRET_KEY; in production a key derived from another secret
        # would be lost (or leaked) with it, and phone numbers sealed with it with it. A platform's
        # refresh tokens are sealed with it too: one lost, and every merchant has to authorize again.
        raise ConfigError(
            "DATA_KEY",
            "is required outside dev mode (it seals phone numbers, session keys and refresh tokens): " + DATA_KEY_HINT,
        )
    check_data_keys(values["DATA_KEY"], values["DATA_KEYS_OLD"])

    app_settings(values)  # WX_APPS_FILE, or the one app: refused here, before anything starts
    component_settings(values)  # a third-party platform's four settings, likewise

    database_url = values.pop("DATABASE_URL") or "sqlite:///" + str(Path(instance_path, "backend.sqlite3").resolve())
    return {
        **values,
        "DEV_MODE": dev_mode,
        "WX_API_BASE": values["WX_API_BASE"].rstrip("/"),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        # Enough connections for every request thread and delivery thread of a process: a
        # smaller pool opens and closes connections under load (PostgreSQL's CPU doubled).
        # hide_parameters: a database error's text (logged with its traceback) never shows the
        # statement's values: an openid, a sealed number, a message's values.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_size": values["DB_POOL_SIZE"],
            "max_overflow": 20,
            "pool_recycle": 1800,
            "hide_parameters": True,
        },
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,  # a batch of 10,000 recipients with their own data
    }


def check_data_keys(current: str | None, old: list[str]) -> None:
    """Each data key is 32 bytes of base64; the message names the setting, never the value."""
    for name, texts in (("DATA_KEY", [current] if current else []), ("DATA_KEYS_OLD", old)):
        for text in texts:
            try:
                parse_key(text)
            except DataKeyError as error:
                raise ConfigError(name, f"{error}: {DATA_KEY_HINT}") from None


def read_setting(setting: Setting, environ: Mapping[str, str | None], *, dev_mode: bool = False) -> Any:
    """The typed value of one setting; unset or blank means its default (in dev mode, its dev default)."""
    raw = (environ.get(setting.name) or "").strip()
    if not raw:
        return setting.dev_default if dev_mode and setting.dev_default is not None else setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        shown = "" if setting.secret else f", got {raw!r}"
        raise ConfigError(setting.name, f"{exc}{shown}") from None


def normalize_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` become `postgresql+psycopg://`; the driver is checked to be installed."""
    url = _POSTGRES.sub(lambda m: f"postgresql+{m['driver'] or 'psycopg'}://", url, count=1)
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except sa_exc.NoSuchModuleError:
        kind = url.partition("://")[0]
        raise ConfigError("DATABASE_URL", f"names {kind!r}, a kind of database SQLAlchemy does not know") from None
    except sa_exc.ArgumentError:
        raise ConfigError("DATABASE_URL", "is not a database URL (e.g. postgresql://user:password@host/db)") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = ": write postgresql://… to use psycopg 3" if parsed.get_backend_name() == "postgresql" else ""
        raise ConfigError(
            "DATABASE_URL",
            f"needs the Python driver {dialect.driver!r} for {parsed.get_backend_name()}, which is not installed "
            f"({exc}){hint}",
        ) from None
    return url
