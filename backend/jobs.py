"""The RQ job's old dotted path: jobs already in Redis when a deployment upgrades name
`backend.jobs.deliver_chunk`, so it stays importable. The queue lives in backend/delivery/queue.py."""

from backend.delivery.queue import deliver_chunk

__all__ = ["deliver_chunk"]
