"""Webhooks to business code (docs/api.md "Webhooks"), from a durable outbox.

- `events.py` writes an event into the transaction of the change it reports (the caller's
  unit of work), so an event exists if and only if its change committed.
- `runner.py` posts the committed events, signed, at least once, with back-off, and lets
  operators list and replay the ones that fail.

Here are the names the other capabilities use. Webhooks depend on no other capability: the
others call them, never the other way round.
"""

from backend.webhooks.events import (
    SubscriptionState,
    emit,
    emit_abandoned,
    emit_batch_done,
    emit_delivery,
    emit_messages,
    emit_settled,
    emit_subscription,
    enabled,
    message_data,
)
from backend.webhooks.runner import (
    deliver_due,
    init_app,
    problem_deliveries,
    replay,
    start_runner,
    stop_runner,
)

__all__ = [
    "SubscriptionState",
    "deliver_due",
    "emit",
    "emit_abandoned",
    "emit_batch_done",
    "emit_delivery",
    "emit_messages",
    "emit_settled",
    "emit_subscription",
    "enabled",
    "init_app",
    "message_data",
    "problem_deliveries",
    "replay",
    "start_runner",
    "stop_runner",
]
