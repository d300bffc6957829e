"""Settings read from the environment (and a `.env` file); shared/API.md lists them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from backend.emulator.defaults import DEFAULT_PORT, DEV_APPID, DEV_SECRET

DEFAULT_WX_API_BASE = "https://api.weixin.qq.com"
DEV_EMULATOR_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
MINIPROGRAM_STATES = ("developer", "trial", "formal")
TOKEN_APIS = ("stable", "classic")


class ConfigError(RuntimeError):
    """A setting is missing or wrong: the app refuses to start."""


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def load_config(environ: Mapping[str, str] | None = None, instance_path: str = "instance") -> dict[str, Any]:
    """Build the Flask config from the environment, `.env` filling what the environment lacks.

    Without WX_APPID and WX_SECRET the backend runs in *dev mode* against the bundled
    emulator. Outside dev mode a missing SECRET_KEY, or only one of the two WeChat
    credentials, stops start-up with a clear message.
    """
    if environ is None:
        environ = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    env = {key: value for key, value in environ.items() if value is not None}

    appid, secret = env.get("WX_APPID", ""), env.get("WX_SECRET", "")
    if bool(appid) != bool(secret):
        missing = "WX_SECRET" if appid else "WX_APPID"
        raise ConfigError(f"{missing} is not set: set both WX_APPID and WX_SECRET, or neither for dev mode")
    dev_mode = not appid
    if dev_mode:
        appid, secret = DEV_APPID, DEV_SECRET

    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if not dev_mode:
            raise ConfigError("SECRET_KEY is required outside dev mode (it signs session tokens)")
        secret_key = "dev-mode-secret-key-not-for-production"

    state = env.get("WX_MINIPROGRAM_STATE") or "formal"
    if state not in MINIPROGRAM_STATES:
        raise ConfigError(f"WX_MINIPROGRAM_STATE must be one of {', '.join(MINIPROGRAM_STATES)}")
    token_api = env.get("WX_TOKEN_API") or "stable"
    if token_api not in TOKEN_APIS:
        raise ConfigError(f"WX_TOKEN_API must be one of {', '.join(TOKEN_APIS)}")

    aes_key = env.get("WX_ENCODING_AES_KEY") or None
    if aes_key and len(aes_key) != 43:
        raise ConfigError("WX_ENCODING_AES_KEY must be the 43-character key from the mini program console")

    database_url = env.get("DATABASE_URL") or "sqlite:///" + str(Path(instance_path, "backend.sqlite3").resolve())
    return {
        "DEV_MODE": dev_mode,
        "WX_APPID": appid,
        "WX_SECRET": secret,
        "WX_API_BASE": (env.get("WX_API_BASE") or (DEV_EMULATOR_URL if dev_mode else DEFAULT_WX_API_BASE)).rstrip("/"),
        "WX_TOKEN": env.get("WX_TOKEN") or None,
        "WX_ENCODING_AES_KEY": aes_key,
        "WX_MINIPROGRAM_STATE": state,
        "WX_TOKEN_API": token_api,
        "WX_CONNECT_TIMEOUT": _float(env, "WX_CONNECT_TIMEOUT", 3.05),
        "WX_READ_TIMEOUT": _float(env, "WX_READ_TIMEOUT", 10.0),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Enough connections for every request thread and delivery thread of a process: a
        # smaller pool opens and closes connections under load (PostgreSQL's CPU doubled).
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_size": int(_float(env, "DB_POOL_SIZE", 20)),
            "max_overflow": 20,
            "pool_recycle": 1800,
        },
        "REDIS_URL": env.get("REDIS_URL") or None,
        # Seconds a Redis command may take (connecting included), and seconds Redis then counts
        # as down (its uses fall back, see backend/redis_link.py) before it is tried again.
        "REDIS_TIMEOUT": _float(env, "REDIS_TIMEOUT", 1.0),
        "REDIS_RETRY_AFTER": _float(env, "REDIS_RETRY_AFTER", 5.0),
        "SECRET_KEY": secret_key,
        "BUSINESS_API_KEYS": _csv(env.get("BUSINESS_API_KEYS")),
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD") or None,
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,  # a batch of 10,000 recipients with their own data
        "WX_SEND_RATE": _float(env, "WX_SEND_RATE", 0.0),  # WeChat sends per second, all workers; 0: no ceiling
        # Our own limits, per minute: logins per client IP (users behind one carrier NAT share an
        # IP, so it is generous), reports and phone requests per user. 0 turns a limit off.
        # Proxies in front of the app (a load balancer: 1) whose X-Forwarded-For is trusted for the client IP.
        "TRUSTED_PROXIES": int(_float(env, "TRUSTED_PROXIES", 0)),
        "RATE_LIMIT_LOGIN": int(_float(env, "RATE_LIMIT_LOGIN", 300)),
        "RATE_LIMIT_REPORTS": int(_float(env, "RATE_LIMIT_REPORTS", 60)),
        "WORKER_THREADS": int(_float(env, "WORKER_THREADS", 16)),
        "SWEEP_INTERVAL": _float(env, "SWEEP_INTERVAL", 30.0),
        "SENDING_TIMEOUT": _float(env, "SENDING_TIMEOUT", 120.0),
        "REQUEUE_AFTER": _float(env, "REQUEUE_AFTER", 60.0),
    }
