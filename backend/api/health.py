"""`GET /healthz`: 200 while the database answers, else 503."""

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import DatabaseUnavailable
from backend.extensions import db
from backend.openapi import doc
from backend.schemas import HealthSchema

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@doc(200, HealthSchema, errors=[DatabaseUnavailable])
def get_health():
    """Whether the backend and its database answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: database unreachable")
        db.session.rollback()
        raise DatabaseUnavailable() from None
    return {"status": "ok"}
