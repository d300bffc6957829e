"""Infrastructure the capabilities share: idempotency keys, rate limits, the Redis link, the access-token storage."""
