"""The health check's reads: whether the database and Redis answer (`GET /healthz`).

Redis down is `degraded`, still healthy: every use of Redis has a fallback, so the instance
serves and a load balancer must not take it out of rotation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import DatabaseUnavailable
from backend.extensions import db
from backend.infra.redis_link import current_link

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    status: str  # ok | degraded
    database: str  # ok (else DatabaseUnavailable)
    redis: str  # ok | down | not_configured


def check() -> Health:
    """Each dependency's state; DatabaseUnavailable (503) when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: database unreachable")
        db.session.rollback()
        raise DatabaseUnavailable() from None
    db.session.rollback()  # end the read
    link = current_link()
    redis = "not_configured" if link is None else "ok" if link.answers() else "down"
    return Health(status="degraded" if redis == "down" else "ok", database="ok", redis=redis)
