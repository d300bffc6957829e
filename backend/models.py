"""The data model of docs/design.md: users, templates, the consent ledger, the outbox."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.states import BatchStatus, MessageStatus, TemplateKind, message_outcome

# A value sealed by backend/infra/data_keys.py: "v1.<key id>.<base64url>" of a WeChat string of at
# most 64 characters (nonce and tag included) fits with room to spare.
SEALED_LENGTH = 255


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class User(TimestampMixin, db.Model):
    """A person in one app: (app_id, openid). The same person in another app is another user,
    with another openid and the same unionid (docs/design.md, several mini programs)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("app_id", "openid", name="uq_users_app_openid"),
        UniqueConstraint("app_id", "external_id", name="uq_users_app_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))  # the AppID of the mini program the user belongs to
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    # WeChat's session_key, sealed with DATA_KEY (backend/users/personal.py): server side only, never serialised.
    session_key: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    # The number as WeChat gave it, sealed (backend/users/personal.py): never in clear in the database.
    phone_number: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    pure_phone_number: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    country_code: Mapped[str | None] = mapped_column(String(8))
    # Bumped on logout: every session token carrying an older version stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # The business system's own id for the person (docs/api.md, Recipients); unique per app.
    external_id: Mapped[str | None] = mapped_column(String(128))
    # HMAC-SHA256 of the number in E.164 under the data key (backend/users/personal.py): a send by
    # phone_number is one indexed look-up, and the column gives the number to nobody without the key.
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # wx.getSetting's mainSwitch as the mini program last reported it (consent/standing.py);
    # None until it reports. False: every subscribe message is off, sends are refused.
    main_switch: Mapped[bool | None] = mapped_column()
    settings_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Set when the person was erased (backend/users/erasure.py): the row stays, anonymous, for the
    # rows that count on it (messages, consent events); sends and reads by user_id answer 410.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Every column holding something of the person besides the openid, cleared by an erase: a
    # column added later that holds personal data is one more name here (users/erasure.py).
    PERSONAL_COLUMNS = (
        "unionid",
        "session_key",
        "phone_number",
        "pure_phone_number",
        "country_code",
        "external_id",
        "phone_hash",
        "main_switch",
        "settings_seen_at",
    )


class Erasure(db.Model):
    """The tombstone of an erased person: a keyed hash of (app, openid), never the openid itself.

    Also appended to the erasure log outside the database (ERASURE_LOG), since a restore of an
    older backup loses this row: `wx users erase --reapply` finds the person again by the hash.
    """

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    # HMAC-SHA256 under ERASURE_KEY of "app_id\nopenid" (users/erasure.py subject_hash).
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # the anonymous row
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Template(TimestampMixin, db.Model):
    """A subscribe-message template as WeChat's gettemplate describes it (or as inferred)."""

    __tablename__ = "templates"

    # A catalog per app: each account has its own templates (docs/design.md).
    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # WeChat's priTmplId
    # one_time | long_term | device (docs/wechat.md §11: a long-term template of enum values only)
    kind: Mapped[str] = mapped_column(String(16), default=TemplateKind.ONE_TIME)  # states.TemplateKind
    title: Mapped[str | None] = mapped_column(String(128))
    # [{"key": "thing1", "name": "...", "type": "thing"}, ...]
    keywords: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"enum_string2": ["a", "b"]}
    enum_values: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    # True once WeChat confirmed the template; False while only inferred from key names.
    synced: Mapped[bool] = mapped_column(default=False)
    # Set when a send answered 43107 (banned); sends are refused until a sync lists it again.
    banned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(TimestampMixin, db.Model):
    """One row per (user, template): the user's choice and the credits left."""

    __tablename__ = "subscriptions"
    # (user, template): a user id is of one app already, so the key needs no app_id (docs/design.md).
    __table_args__ = (UniqueConstraint("user_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default=TemplateKind.ONE_TIME)
    status: Mapped[str] = mapped_column(String(16))  # states.SubscriptionStatus
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    # What the mini program last reported, kept apart when pushes are the authority.
    client_status: Mapped[str | None] = mapped_column(String(16))
    client_reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StandingSetting(db.Model):
    """A template's "always keep this choice" from wx.getSetting (docs/wechat.md §5): the popup is
    no longer shown and its answer is given at once. Never a credit: each send still needs a tap."""

    __tablename__ = "standing_settings"
    __table_args__ = (UniqueConstraint("user_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    # accept | reject | ban | acceptWithAudio | acceptWithAlert, as wx.getSetting said it
    setting: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeviceSubscription(TimestampMixin, db.Model):
    """One row per (user, template, model_id, sn): a device subscription (docs/wechat.md §11).

    Long-term, and tied to the device the user subscribed on: WeChat answers 9800006 to a send
    for another (model_id, sn). Kept apart from `subscriptions`, whose key is (user, template).
    """

    __tablename__ = "device_subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "template_id", "model_id", "sn"),
        Index("ix_device_subscriptions_device", "app_id", "template_id", "model_id", "sn", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(128))
    sn: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # accept | reject | ban | filter
    audio: Mapped[bool] = mapped_column(default=False)  # accepted with a voice reminder (acceptWithAudio)

    kind = TemplateKind.DEVICE

    @property
    def remaining(self) -> None:
        return None  # long-term: no credits

    @property
    def client_status(self) -> str:
        return self.status  # the mini program's report is the only source (no push for these)

    @property
    def device(self) -> dict[str, str]:
        return {"model_id": self.model_id, "sn": self.sn}


class DeviceBinding(db.Model):
    """A person who may follow a device: one row per (app, model_id, sn, user), made by business
    code (directly or through a device binding code). With DEVICE_BINDING_REQUIRED only they get
    the device's sn_ticket, report its popup and receive its messages (consent/device_bindings.py).
    """

    __tablename__ = "device_bindings"
    __table_args__ = (UniqueConstraint("app_id", "model_id", "sn", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(128))
    sn: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the last sn_ticket the backend handed this user for this device expires: a device
    # report is believed only until then (WeChat pushes nothing for device popups).
    ticket_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsentEvent(db.Model):
    """Append-only audit of every report, push and credit change; the ledger can be rebuilt from it."""

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint("app_id", "dedupe_key", name="uq_consent_events_app_dedupe_key"),
        # Retention's question per old event, "is it the last grant of its (user, template)?",
        # answered by reading this index backwards from the newest event of the pair (ops/retention.py).
        Index("ix_consent_events_pair", "user_id", "template_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    template_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # states.EventSource
    result: Mapped[str] = mapped_column(String(32))  # states.EventResult
    scene: Mapped[str | None] = mapped_column(String(64))
    credits_delta: Mapped[int] = mapped_column(Integer, default=0)
    # Unique per app where set: a replayed push or report is recorded once.
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Batch(TimestampMixin, db.Model):
    """One template sent to many users; its messages are rows of the outbox."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: new_public_id("bat"))
    app_id: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.QUEUED)  # states.BatchStatus
    total: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(TimestampMixin, db.Model):
    """The outbox: one row per send request (single or batch)."""

    __tablename__ = "messages"
    # The due-scanner's query: status = 'scheduled' AND send_at <= now (sending/later.py).
    # Held messages (consent/held.py) by partial indexes that hold only them: a report asks
    # "anything held for this user and template?" and the due-scan "anything held past its
    # wait_until?" without touching the other rows, and they cost nothing to the other sends.
    __table_args__ = (
        Index("ix_messages_batch_status", "batch_id", "status"),
        Index("ix_messages_status_send_at", "status", "send_at"),
        Index(
            "ix_messages_held",
            "app_id",
            "user_id",
            "template_id",
            "id",
            postgresql_where=sa.text("status = 'awaiting_consent'"),
            sqlite_where=sa.text("status = 'awaiting_consent'"),
        ),
        Index(
            "ix_messages_held_until",
            "wait_until",
            postgresql_where=sa.text("status = 'awaiting_consent'"),
            sqlite_where=sa.text("status = 'awaiting_consent'"),
        ),
        Index("ix_messages_created_at", "created_at"),  # retention: where the rows past it end (ops/retention.py)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: new_public_id("msg"))
    app_id: Mapped[str] = mapped_column(String(32), index=True)  # delivered with this app's client
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    # None for a batch recipient that matched no user (outcome user_not_found).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    openid: Mapped[str | None] = mapped_column(String(64))  # the recipient as the caller named it
    # Delivery attempts that ended in a transient failure (quota, WeChat busy) and were requeued.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    template_id: Mapped[str] = mapped_column(String(64))
    # Set for a device message (docs/wechat.md §11): sent with the device send, to this device's subscribers.
    model_id: Mapped[str | None] = mapped_column(String(128))
    sn: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    page: Mapped[str | None] = mapped_column(String(512))
    miniprogram_state: Mapped[str] = mapped_column(String(16), default="formal")
    lang: Mapped[str] = mapped_column(String(8), default="zh_CN")
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED, index=True)  # states.MessageStatus
    # Our error code for a failed message (states.Outcome: consent_required, wechat_rejected, ...).
    outcome: Mapped[str | None] = mapped_column(String(32))
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(Text)
    wechat_msgid: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # subscribe_msg_sent_event's result, when WeChat pushes it.
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a scheduled message is due (`send_at` of the request); None for one sent at once.
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set for `if_no_credit: "wait"`: held as `awaiting_consent` without a credit until then.
    wait_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A held message released with the credit that released it already spent (consent/held.py):
    # the claim takes no other, and clears this (a requeue after a deferral gave the credit back).
    credit_reserved: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # When retention (RETAIN_MESSAGE_VALUES_DAYS) emptied `data`: status, errcode and dates stay.
    data_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @hybrid_property
    def shown_outcome(self) -> str:
        """queued, sending, sent, unknown, or the error code of a failed message (states.message_outcome)."""
        return message_outcome(self.status, self.outcome)

    @shown_outcome.inplace.expression
    @classmethod
    def _shown_outcome_in_sql(cls) -> sa.ColumnElement[str]:
        return sa.case((cls.status == MessageStatus.FAILED, cls.outcome), else_=cls.status)


class IdempotencyRecord(db.Model):
    """A request carrying an Idempotency-Key: what it committed, and its answer, for its retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("app_id", "scope", "key", name="uq_idempotency_records_app_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))  # the app the request acted for
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None until the request has answered
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_language: Mapped[str | None] = mapped_column(String(16))  # an error answer's language
    # The request running with the key holds it until then; a retry may take it over after.
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # What the request committed, written in the same transaction: {"message": id, ...}.
    effect: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class SendLease(db.Model):
    """Whose turn it is to send to an openid (sending/send_lock.py, without Redis)."""

    __tablename__ = "send_leases"

    appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[float] = mapped_column()  # Unix time: a dead holder's turn runs out


class AccessToken(db.Model):
    """The shared access-token store (database flavour): one row per AppID and token API."""

    __tablename__ = "access_tokens"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(String(1024))  # WeChat: reserve at least 512
    expires_at: Mapped[float] = mapped_column(default=0.0)  # Unix time
    # A lease instead of a lock held across the HTTP call: one refresher at a time.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[float] = mapped_column(default=0.0)


class SnTicket(db.Model):
    """A device's `sn_ticket` shared by every process when there is no Redis (consent/sn_tickets.py):
    one row per (app, model_id, sn), with the lease of the one caller fetching a new ticket."""

    __tablename__ = "sn_tickets"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sn: Mapped[str] = mapped_column(String(128), primary_key=True)  # getsnticket: at most 128 bytes
    ticket: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[float] = mapped_column(default=0.0)  # Unix time
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[float] = mapped_column(default=0.0)


class ApiQuota(db.Model):
    """WeChat's daily quota of `subscribe/send` for one app, as getApiQuota last answered it
    (docs/wechat.md §15), shared by every process: read at most once per QUOTA_READ_EVERY,
    by whoever takes the lease (ops/quota.py)."""

    __tablename__ = "api_quotas"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    daily_limit: Mapped[int | None] = mapped_column(BigInteger)
    used: Mapped[int | None] = mapped_column(BigInteger)
    remain: Mapped[int | None] = mapped_column(BigInteger)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The reader's lease (Unix time): one call to WeChat per period across all processes.
    lease_until: Mapped[float] = mapped_column(default=0.0)


class PushQuery(db.Model):
    """A plaintext-mode push's signed query and the one body it authenticated.

    WeChat's plaintext signature covers Token, timestamp and nonce but not the body: the same
    query with the same body is WeChat's retry, with another body a forgery. Kept while the
    query's timestamp is accepted (MAX_CLOCK_SKEW and a margin), then pruned.
    """

    __tablename__ = "push_queries"

    query_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of timestamp, nonce, signature
    body_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the raw body
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds


class BindingCode(db.Model):
    """A single-use code that binds an external_id to the user who redeems it in the mini program.

    Only the code's SHA-256 is kept: whoever reads the table cannot redeem what it holds.
    """

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))  # redeemed by a user of this app only
    external_id: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeviceBindingCode(db.Model):
    """A single-use code that binds a device to the user who redeems it (a QR code on the device,
    or shown by the business app). Only the code's SHA-256 is kept, as for `binding_codes`."""

    __tablename__ = "device_binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))  # redeemed by a user of this app only
    model_id: Mapped[str] = mapped_column(String(128))
    sn: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookEvent(db.Model):
    """The webhook outbox: one row per event for business code, written in the transaction of the
    change it reports, delivered from here and retried from here (webhooks/events.py, webhooks/runner.py)."""

    __tablename__ = "webhook_events"
    # The runners' question, "what is due?": pending or failing events by next attempt.
    __table_args__ = (Index("ix_webhook_events_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id, the same on every retry
    type: Mapped[str] = mapped_column(String(32))  # message.sent, subscription.updated, ...
    app: Mapped[str | None] = mapped_column(String(32))  # the AppID the event belongs to
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body: {"type", "timestamp", "data"}
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failing | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A runner holds the event until then while it posts it; a runner that died lets go then.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))  # "HTTP 500", "timed out": never a secret
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RetentionCount(db.Model):
    """Rows purged by retention so far, per kind (ops/retention.py), for the dashboard; the row of
    kind `run` holds the time the last purge began, which one process at a time takes over."""

    __tablename__ = "retention_counts"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # message_values, consent_events, ...
    purged: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComponentTicket(db.Model):
    """The third-party platform's last `component_verify_ticket` (docs/wechat.md §14): kept until a newer
    one arrives (it lives 12 hours; WeChat pushes one every 10 minutes). `bad_since`: WeChat refused it
    (61005/61006) and a push was asked for; requests needing a new component token answer 503 until then."""

    __tablename__ = "component_tickets"

    component_appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket: Mapped[str] = mapped_column(String(512))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    bad_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthorizedApp(TimestampMixin, db.Model):
    """A merchant's mini program that authorized the platform: its state, its permission sets, and its
    refresh token, sealed with DATA_KEY. This row is the only durable copy of the refresh token (Redis
    may cache access tokens, never this); every rotated one is saved here."""

    __tablename__ = "authorized_apps"

    appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="authorized")  # authorized | frozen
    func_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # permission sets granted (18: messages)
    refresh_token: Mapped[str | None] = mapped_column(Text)  # sealed (backend/infra/data_keys.py)
    # The refresh token WeChat refused (61023) and the authorizer list could not replace: `wx component recover`.
    refresh_token_lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recovered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last 61023 self-recovery
    authorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unauthorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    users_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BusinessKey(db.Model):
    """A business API key that acts for one app (`wx keys add --app`): only its SHA-256 is stored."""

    __tablename__ = "business_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # key_…: what `wx keys revoke` takes
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
