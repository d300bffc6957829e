"""`GET /healthz`."""

from __future__ import annotations

from marshmallow import fields

from backend.api.schemas.common import AnswerSchema


class HealthSchema(AnswerSchema):
    """Dumps backend/infra/health.py's Health."""

    status = fields.String(
        metadata={"enum": ["ok", "degraded"], "description": "degraded: Redis is down, and the instance still serves."}
    )
    database = fields.String(
        metadata={"enum": ["ok"], "description": "A database that does not answer makes this 503 database_unavailable."}
    )
    redis = fields.String(
        metadata={
            "enum": ["ok", "down", "not_configured"],
            "description": "not_configured: no REDIS_URL (the token in the database, limits and delivery in-process).",
        }
    )
