"""Delivery of the outbox: the queue, claims, retries, the sweep, the scheduled-send release."""
