"""marshmallow schemas: the HTTP boundary, one module per blueprint and `common` for what they share.

A view's `@doc` (backend/api/openapi.py) loads its body with one of them and dumps its answer
with another, and the OpenAPI document is built from the same classes.
"""

# tests/test_ledger.py checks these two against backend/states.py.
from backend.api.schemas.messages import MessageSchema
from backend.api.schemas.subscriptions import SubscriptionSchema

__all__ = ["MessageSchema", "SubscriptionSchema"]
