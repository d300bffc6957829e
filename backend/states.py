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
    BUSINESS = "business"  # business code: an unbind from a device ends its subscriptions


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
    # WeChat's user-data push (authorized_user_information_changes, privacy/user_data_push.py):
    DATA_REVOKED = "data_revoked"  # user_authorization_revoke: the user withdrew some data (RevokeInfo)
    ACCOUNT_CLOSED = "account_closed"  # user_authorization_cancellation: the person was erased
    INFO_MODIFIED = "info_modified"  # user_info_modified: recorded, nothing held needs it


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"  # in the outbox, waiting for its send_at (sending/later.py)
    # Held (`if_no_credit: "wait"`): no credit yet; the user's next credit for its template
    # releases it (consent/held.py), or it fails as `wait_expired` at its wait_until.
    AWAITING_CONSENT = "awaiting_consent"
    QUEUED = "queued"  # in the outbox, waiting for a worker
    SENDING = "sending"  # credit spent, WeChat being called
    SENT = "sent"
    FAILED = "failed"  # surely not delivered; `outcome` says why
    UNKNOWN = "unknown"  # WeChat may or may not have it; the credit stays spent
    CANCELED = "canceled"  # DELETE /api/v1/messages/<id> before a worker claimed it: nothing spent


# Not settled yet: a batch with any of these is not done.
OPEN_STATUSES = (
    MessageStatus.SCHEDULED,
    MessageStatus.AWAITING_CONSENT,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
)


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
    WAIT_EXPIRED = "wait_expired"  # a held message whose wait_until came before a credit
    MAIN_SWITCH_OFF = "main_switch_off"  # the user switched every subscribe message off (wx.getSetting)


def message_outcome(status: str, failure: str | None) -> str:
    """A message's outcome as the API, the stats and the metrics show it: its status, or the
    error code of a failed message. `Message.shown_outcome` is this rule, in Python and in SQL."""
    return failure if status == MessageStatus.FAILED else status


class IfNoCredit(StrEnum):
    """What a send does when the user has no credit for its template (docs/api.md, held sends)."""

    FAIL = "fail"  # 409 consent_required, as always
    WAIT = "wait"  # held as `awaiting_consent` until a credit arrives or wait_until passes


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
