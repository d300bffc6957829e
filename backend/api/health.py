"""`GET /healthz`: each dependency's state; 503 only when the database does not answer.

Redis down is `degraded`, still 200: every use of Redis has a fallback, so the instance
serves and a load balancer must not take it out of rotation.
"""

from flask import Blueprint

from backend.api.openapi import doc
from backend.api.schemas.health import HealthSchema
from backend.errors import DatabaseUnavailable
from backend.infra import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@doc(200, HealthSchema, errors=[DatabaseUnavailable])
def get_health():
    """Whether the backend, its database and Redis answer."""
    return health.check()
