"""The names of states: what the database stores and the API answers, one enum per kind of state.

Each is a `StrEnum`, so a member is the very string written to a column and shown in JSON
(`MessageStatus.SENT == "sent"`); services use the members, never string literals. The values
are part of the API contract (docs/api.md) and of the stored rows: renaming one is a migration.
"""

from __future__ import annotations

from enum import StrEnum


class TemplateKind(StrEnum):
    ONE_TIME = "one_time"  # each accept allows one message (docs/wechat.md §4)
    LONG_TERM = "long_term"  # an accept allows sends until the user turns it off
    DEVICE = "device"  # long-term, per device: (user, template, model_id, sn) (docs/wechat.md §11)


class SubscriptionStatus(StrEnum):
    """A user's answer to a template in the subscribe popup: a subscription's standing status."""

    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"  # the template was banned by WeChat
    FILTER = "filter"  # filtered out by WeChat (e.g. the title repeats another template's)


class EventSource(StrEnum):
    """Who caused an audit row (`consent_events.source`)."""

    CLIENT = "client"  # the mini program's report
    PUSH = "push"  # WeChat's signed push
    SEND = "send"  # a send spent, returned or lost credits


class EventResult(StrEnum):
    """What an audit row records (`consent_events.result`): a choice, or a credit movement."""

    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"
    FILTER = "filter"
    SPENT = "spent"  # a send took one credit
    REFUNDED = "refunded"  # a send that surely did not reach WeChat gave it back
    REVOKED = "revoked"  # credits set to 0: a change event or a 43101
    SENT_EVENT = "sent_event"  # subscribe_msg_sent_event: WeChat's word on a delivery
    IGNORED = "ignored"  # a push event that changes nothing


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"  # in the outbox, waiting for its send_at (sending/later.py)
    QUEUED = "queued"  # in the outbox, waiting for a worker
    SENDING = "sending"  # credit spent, WeChat being called
    SENT = "sent"
    FAILED = "failed"  # surely not delivered; `outcome` says why
    UNKNOWN = "unknown"  # WeChat may or may not have it; the credit stays spent
    CANCELED = "canceled"  # DELETE /api/v1/messages/<id> before a worker claimed it: nothing spent


OPEN_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING)


class Outcome(StrEnum):
    """Why a message failed (`messages.outcome`): the error code the API answered, or would have."""

    CONSENT_REQUIRED = "consent_required"
    CONSENT_REVOKED = "consent_revoked"  # 43101
    TEMPLATE_BANNED = "template_banned"  # 43107
    WECHAT_REJECTED = "wechat_rejected"  # 47003, 45168, 47001, 40037, ...
    RATE_LIMITED = "rate_limited"  # 45009, 45011
    WECHAT_UNAVAILABLE = "wechat_unavailable"  # -1, 43108 after its retries, unreachable
    USER_NOT_FOUND = "user_not_found"  # a batch recipient with no user
    APP_UNAUTHORIZED = "app_unauthorized"  # a platform's merchant app revoked (61003) or lacks set 18 (61007)
    AMBIGUOUS_RECIPIENT = "ambiguous_recipient"  # a batch recipient's phone number shared by several users
    UNKNOWN = "unknown"  # set with the status `unknown`


def message_outcome(status: str, failure: str | None) -> str:
    """A message's outcome as the API, the stats and the metrics show it: its status, or the
    error code of a failed message. `Message.shown_outcome` is this rule, in Python and in SQL."""
    return failure if status == MessageStatus.FAILED else status


class BatchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # a worker claimed its first message
    DONE = "done"  # none of its messages is queued or sending


class WebhookStatus(StrEnum):
    """Where a webhook event's delivery stands (`webhook_events.status`, backend/webhooks)."""

    PENDING = "pending"  # not posted yet (or replayed): due at its next_attempt_at
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILING = "failing"  # an attempt failed; retried after a back-off
    DEAD = "dead"  # not delivered within the back-off's 3 days: only a replay posts it again
