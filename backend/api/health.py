"""`GET /healthz`: each dependency's state; 503 only when the database does not answer.

Redis down is `degraded`, still 200: every use of Redis has a fallback, so the instance
serves and a load balancer must not take it out of rotation.
"""

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.api.openapi import doc
from backend.api.schemas import HealthSchema
from backend.errors import DatabaseUnavailable
from backend.extensions import db
from backend.infra.redis_link import current_link

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@doc(200, HealthSchema, errors=[DatabaseUnavailable])
def get_health():
    """Whether the backend, its database and Redis answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: database unreachable")
        db.session.rollback()
        raise DatabaseUnavailable() from None
    db.session.rollback()  # end the read
    link = current_link()
    redis = "not_configured" if link is None else "ok" if link.answers() else "down"
    return HealthSchema().dump({"status": "degraded" if redis == "down" else "ok", "database": "ok", "redis": redis})
