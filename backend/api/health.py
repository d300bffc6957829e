"""`GET /healthz`: 200 while the database answers, else 503."""

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import error_response
from backend.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def get_health():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: database unreachable")
        db.session.rollback()
        return error_response("database_unavailable", "The database does not answer.", 503)
    return {"status": "ok"}
