"""Business keys that act for one app (`wx keys add --app APPID`): stored as SHA-256, shown once.

A key is random (256 bits), so its plain SHA-256 is enough to find it and never reveals it; the
configured keys (BUSINESS_API_KEYS, `api_keys` of the apps file) are compared in backend/apps.py.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backend.db import work
from backend.extensions import db
from backend.models import BusinessKey, utcnow

PREFIX = "wxk_"  # recognisable in a leaked file or a log
_keys = BusinessKey.__table__


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def app_of_key(engine: Engine, given: str) -> str | None:
    """The app a stored key acts for; None for a key not stored, or revoked."""
    if not given.startswith(PREFIX):
        return None  # not one of ours: no query
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(_keys.c.app_id).where(_keys.c.key_hash == _hash(given), _keys.c.revoked_at.is_(None))
        )


def add_key(appid: str) -> tuple[str, str]:
    """A new key for `appid`: (key id, the key). The key is shown this once and never stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(8)
    with work():
        db.session.execute(sa.insert(_keys).values(id=key_id, key_hash=_hash(key), app_id=appid, created_at=utcnow()))
    return key_id, key


def list_keys() -> list[BusinessKey]:
    return list(db.session.scalars(sa.select(BusinessKey).order_by(BusinessKey.created_at, BusinessKey.id)))


def revoke_key(key_id: str) -> bool:
    """True when the key was live until now."""
    with work():
        return bool(
            db.session.execute(
                sa.update(_keys).where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
            ).rowcount
        )
