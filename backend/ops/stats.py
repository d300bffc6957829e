"""The operator's figures behind `/admin`: consent, credits, sends, failures and WeChat latency.

Read-only queries over the ledger and the outbox, plus the latency histogram from the
Prometheus registry. Days are UTC calendar days, bucketed in SQL the same way on SQLite
and PostgreSQL, and every series covers every day of the window (zero where nothing
happened), so the charts' x axes line up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from backend.consent import held
from backend.consent.reports import push_is_authority
from backend.extensions import db
from backend.models import ConsentEvent, Message, Subscription, Template, utcnow
from backend.ops import metrics, quota
from backend.states import EventResult, EventSource, MessageStatus, Outcome, TemplateKind

MAX_DAYS = 90
RECENT_FAILURES = 20
UNKNOWN_LISTED = 50
LATENCY_METRIC = "wxsub_wechat_call_seconds"
ANSWERS = (EventResult.ACCEPT, EventResult.REJECT)  # the popup answers the consent figures count

# What an operator should read into a failed or unknown message's outcome.
OUTCOME_REASONS = {
    Outcome.CONSENT_REQUIRED: "No send credit left for this user and template; WeChat was not called.",
    Outcome.CONSENT_REVOKED: "WeChat answered 43101: the user refuses this template; their credits were set to 0.",
    Outcome.WECHAT_REJECTED: "WeChat refused the request itself (see errcode); the credit was returned.",
    Outcome.WECHAT_UNAVAILABLE: "WeChat kept failing after bounded retries; the credit was returned.",
    Outcome.RATE_LIMITED: "WeChat's send quota was reached (45009 / 45011); the credit was returned.",
    Outcome.USER_NOT_FOUND: "No user with that openid or user_id; nothing was sent.",
    Outcome.APP_UNAUTHORIZED: (
        "The merchant app revoked the platform's authorization (or lacks permission set 18); nothing was sent."
    ),
    Outcome.UNKNOWN: (
        "WeChat did not answer after the request went out: it may have been delivered. The credit stays spent."
    ),
}


@dataclass(frozen=True)
class Window:
    """The last `days` UTC calendar days, today included."""

    days: int
    today: date

    @classmethod
    def last(cls, days: int, now: datetime | None = None) -> Window:
        return cls(days, (now or utcnow()).astimezone(UTC).date())

    @property
    def labels(self) -> list[str]:
        return [(self.start + timedelta(days=offset)).isoformat() for offset in range(self.days)]

    @property
    def start(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    def series(self, counts: dict[str, int]) -> list[int]:
        """Counts keyed by ISO day, as one value per day of the window."""
        return [counts.get(label, 0) for label in self.labels]


class utc_day(FunctionElement):  # lower case: it reads like the SQL function it stands for
    """The UTC calendar day of a timestamp column, in SQL; each database compiles it its own way."""

    inherit_cache = True


@compiles(utc_day)
def _utc_day(element: utc_day, compiler, **kw) -> str:
    # SQLite stores the UTC wall time as text and its date() takes the day from that.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler, **kw) -> str:
    # date() of a timestamptz uses the session's TimeZone, which need not be UTC: to UTC first.
    return f"date(timezone('UTC', {compiler.process(element.clauses, **kw)}))"


def _iso_day(value: date | str) -> str:
    """SQLite answers date() with text, PostgreSQL with a date."""
    return value if isinstance(value, str) else value.isoformat()


def acceptance_rate(accepted: int, rejected: int) -> float | None:
    """Accepted share of the popups answered; None when none were."""
    answered = accepted + rejected
    return accepted / answered if answered else None


# -- consent and credits ------------------------------------------------------------------


def _of_app(column: sa.ColumnElement, app_id: str | None) -> sa.ColumnElement[bool]:
    """Rows of one app (the dashboard's app selector), or of all when `app_id` is None."""
    return sa.true() if app_id is None else column == app_id


def consent_source(app_id: str | None = None) -> str:
    """Which audit rows count as the user's choices.

    With message push configured, one popup is recorded twice: the mini program's report
    (`client`) and WeChat's own `subscribe_msg_popup_event` (`push`). WeChat's is the
    authority then; without push, the reports are all there is.
    """
    # For all apps at once, push counts when every app has it.
    apps = [mini_program for mini_program in current_app.extensions["apps"] if app_id in (None, mini_program.appid)]
    authority = apps and all(push_is_authority(mini_program) for mini_program in apps)
    return EventSource.PUSH if authority else EventSource.CLIENT


def consent_by_template(
    window: Window, credits: dict[str, int] | None = None, app_id: str | None = None
) -> dict[str, Any]:
    """Per template: accepted and rejected popups per day, their totals and acceptance rate,
    and the credits outstanding (`credits`, when the caller has them already); of one app or all."""
    source = consent_source(app_id)
    day = utc_day(ConsentEvent.created_at)
    rows = db.session.execute(
        sa.select(ConsentEvent.template_id, ConsentEvent.result, day, sa.func.count())
        .where(
            ConsentEvent.source == source,
            ConsentEvent.result.in_(ANSWERS),
            ConsentEvent.template_id.is_not(None),
            ConsentEvent.created_at >= window.since,
            _of_app(ConsentEvent.app_id, app_id),
        )
        .group_by(ConsentEvent.template_id, ConsentEvent.result, day)
    ).all()
    daily: dict[str, dict[str, dict[str, int]]] = {}
    for template_id, result, bucket, count in rows:
        per_result = daily.setdefault(template_id, {answer: {} for answer in ANSWERS})
        per_result[result][_iso_day(bucket)] = count

    if credits is None:
        credits = credits_outstanding(app_id)["by_template"]
    known = known_templates(app_id)
    templates = []
    for template_id in set(daily) | set(credits):
        answers = daily.get(template_id, {answer: {} for answer in ANSWERS})
        accepted = sum(answers[EventResult.ACCEPT].values())
        rejected = sum(answers[EventResult.REJECT].values())
        title, kind = known.get(template_id, (None, None))
        templates.append(
            {
                "template_id": template_id,
                "title": title,
                "kind": kind,
                "accepted": accepted,
                "rejected": rejected,
                "acceptance_rate": acceptance_rate(accepted, rejected),
                "credits_outstanding": credits.get(template_id, 0),
                "daily": {
                    "accepted": window.series(answers[EventResult.ACCEPT]),
                    "rejected": window.series(answers[EventResult.REJECT]),
                },
            }
        )
    # The busiest templates first: they are what an operator looks for.
    templates.sort(key=lambda row: (-(row["accepted"] + row["rejected"]), row["template_id"]))
    accepted = sum(row["accepted"] for row in templates)
    rejected = sum(row["rejected"] for row in templates)
    return {
        "source": source,
        "accepted": accepted,
        "rejected": rejected,
        "acceptance_rate": acceptance_rate(accepted, rejected),
        "templates": templates,
    }


def credits_outstanding(app_id: str | None = None) -> dict[str, Any]:
    """One-time send credits users have given and we have not spent yet (now, not windowed)."""
    rows = db.session.execute(
        sa.select(Subscription.template_id, sa.func.sum(Subscription.remaining))
        .where(
            Subscription.kind == TemplateKind.ONE_TIME, Subscription.remaining > 0, _of_app(Subscription.app_id, app_id)
        )
        .group_by(Subscription.template_id)
    ).all()
    by_template = {template_id: int(total) for template_id, total in rows}
    return {"total": sum(by_template.values()), "by_template": by_template}


def held_messages(app_id: str | None = None) -> int:
    """Messages held for a credit (`if_no_credit: "wait"`), now."""
    counts = held.held_counts()
    return counts.get(app_id, 0) if app_id is not None else sum(counts.values())


def send_quotas(app_id: str | None = None) -> list[dict[str, Any]]:
    """WeChat's quota of subscribe/send per app as last read (ops/quota.py; no WeChat call here)."""
    rows = []
    for mini_program in current_app.extensions["apps"]:
        if app_id is not None and mini_program.appid != app_id:
            continue
        known = quota.stored(mini_program.appid)
        rows.append(
            {
                "appid": mini_program.appid,
                "daily_limit": known.daily_limit if known else None,
                "remain": known.remain if known else None,
                "low": known.low if known else False,
                "read_at": known.read_at.isoformat(timespec="seconds") if known else None,
            }
        )
    return rows


def known_templates(app_id: str | None = None) -> dict[str, tuple[str | None, str | None]]:
    """Title and kind of every template the backend has looked up, by id."""
    query = sa.select(Template.id, Template.title, Template.kind).where(_of_app(Template.app_id, app_id))
    return {template_id: (title, kind) for template_id, title, kind in db.session.execute(query).all()}


def per_app_totals() -> dict[str, tuple[int, int]]:
    """Per appid: the templates of its catalog and its one-time credits outstanding (`flask wx apps`)."""
    templates = dict(db.session.execute(sa.select(Template.app_id, sa.func.count()).group_by(Template.app_id)).all())
    credits = dict(
        db.session.execute(
            sa.select(Subscription.app_id, sa.func.sum(Subscription.remaining))
            .where(Subscription.kind == TemplateKind.ONE_TIME, Subscription.remaining > 0)
            .group_by(Subscription.app_id)
        ).all()
    )
    return {appid: (int(templates.get(appid, 0)), int(credits.get(appid) or 0)) for appid in {*templates, *credits}}


# -- sends ----------------------------------------------------------------------------------

# A message's outcome as the batch API reports it: its status, or a failed one's error code.
OUTCOME = Message.shown_outcome
NOT_FAILED = tuple(status for status in MessageStatus if status != MessageStatus.FAILED)


def sends(window: Window, app_id: str | None = None) -> dict[str, Any]:
    """Messages created in the window, per day: by outcome, and failed or unknown ones by errcode.

    A message's errcode is WeChat's last answer to it; a message that was deferred (45009,
    -1) and then sent keeps the deferral's errcode, so only failed and unknown messages
    are counted by errcode here. /metrics counts every call.
    """
    day = utc_day(Message.created_at)
    by_outcome = db.session.execute(
        sa.select(OUTCOME, day, sa.func.count())
        .where(Message.created_at >= window.since, _of_app(Message.app_id, app_id))
        .group_by(OUTCOME, day)
    ).all()
    by_errcode = db.session.execute(
        sa.select(Message.errcode, day, sa.func.count())
        .where(
            Message.created_at >= window.since,
            Message.status.in_((MessageStatus.FAILED, MessageStatus.UNKNOWN)),
            Message.errcode.is_not(None),
            _of_app(Message.app_id, app_id),
        )
        .group_by(Message.errcode, day)
    ).all()
    outcome_days = _by_key_and_day(by_outcome)
    errcode_days = _by_key_and_day((str(errcode), bucket, count) for errcode, bucket, count in by_errcode)
    totals = _totals(outcome_days)
    return {
        "total": sum(totals.values()),
        "failed": sum(count for outcome, count in totals.items() if outcome not in NOT_FAILED),
        "by_outcome": totals,
        "daily_by_outcome": {key: window.series(days) for key, days in sorted(outcome_days.items())},
        "by_errcode": _totals(errcode_days),
        "daily_by_errcode": {key: window.series(days) for key, days in sorted(errcode_days.items())},
    }


def _by_key_and_day(rows) -> dict[str, dict[str, int]]:
    grouped: dict[str, dict[str, int]] = {}
    for key, bucket, count in rows:
        grouped.setdefault(str(key), {})[_iso_day(bucket)] = count
    return grouped


def _totals(grouped: dict[str, dict[str, int]]) -> dict[str, int]:
    """Totals per key, the largest first."""
    totals = {key: sum(days.values()) for key, days in grouped.items()}
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def _message_row(message: Message) -> dict[str, Any]:
    outcome = message.shown_outcome
    created_at = message.created_at
    if created_at.tzinfo is None:  # SQLite gives back the UTC wall time without its zone
        created_at = created_at.replace(tzinfo=UTC)
    return {
        "id": message.public_id,
        "appid": message.app_id,
        "created_at": created_at.isoformat(timespec="seconds"),
        "template_id": message.template_id,
        "user_id": message.user_id,
        "openid": message.openid,
        "outcome": outcome,
        "errcode": message.errcode,
        "errmsg": message.errmsg,
        "reason": OUTCOME_REASONS.get(outcome or ""),
        "batch": message.batch_id is not None,
    }


def recent_failures(limit: int = RECENT_FAILURES, app_id: str | None = None) -> list[dict[str, Any]]:
    """The latest failed messages, newest first, with why they failed."""
    messages = db.session.scalars(
        sa.select(Message)
        .where(Message.status == MessageStatus.FAILED, _of_app(Message.app_id, app_id))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return [_message_row(message) for message in messages]


def unknown_messages(limit: int = UNKNOWN_LISTED, app_id: str | None = None) -> dict[str, Any]:
    """Messages WeChat may or may not have delivered (all time: each needs a look), newest first."""
    unknown = sa.and_(Message.status == MessageStatus.UNKNOWN, _of_app(Message.app_id, app_id))
    total = db.session.scalar(sa.select(sa.func.count()).where(unknown))
    messages = db.session.scalars(
        sa.select(Message).where(unknown).order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    )
    return {"total": total, "messages": [_message_row(message) for message in messages]}


# -- WeChat latency -------------------------------------------------------------------------


def estimate_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a Prometheus histogram, as PromQL's histogram_quantile estimates it.

    `buckets` are (upper bound, cumulative count) pairs in ascending order, ending with +Inf.
    Observations are taken as spread evenly inside their bucket; a quantile that falls in
    the +Inf bucket is reported as the largest finite bound, which is all that is known.
    """
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        lower, below = upper, cumulative
    return lower


def wechat_latency(registry: CollectorRegistry | None = None) -> list[dict[str, Any]]:
    """Per WeChat API: calls, mean, p50 and p95 in milliseconds, since the backend started.

    Read from the `wxsub_wechat_call_seconds` histogram, summed over every gunicorn worker and app.
    """
    buckets: dict[str, dict[float, float]] = {}
    sums: dict[str, float] = {}
    for family in (registry or metrics.registry()).collect():
        if family.name != LATENCY_METRIC:
            continue
        for sample in family.samples:
            api = sample.labels.get("api", "")
            if sample.name.endswith("_bucket"):
                by_bound = buckets.setdefault(api, {})
                bound = float(sample.labels["le"])
                by_bound[bound] = by_bound.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                sums[api] = sums.get(api, 0.0) + sample.value
    rows = []
    for api, by_bound in sorted(buckets.items()):
        api_buckets = sorted(by_bound.items())
        count = int(api_buckets[-1][1])
        if not count:
            continue
        rows.append(
            {
                "api": api,
                "count": count,
                "mean_ms": _ms(sums.get(api, 0.0) / count),
                "p50_ms": _ms(estimate_quantile(0.5, api_buckets)),
                "p95_ms": _ms(estimate_quantile(0.95, api_buckets)),
            }
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- everything at once ---------------------------------------------------------------------


def dashboard(days: int, app_id: str | None = None) -> dict[str, Any]:
    """Every figure of the dashboard, JSON-ready: of one app, or of all (`app_id` None)."""
    window = Window.last(days)
    credits = credits_outstanding(app_id)
    return {
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "window": {"days": window.days, "since": window.start.isoformat(), "labels": window.labels},
        "app": app_id,
        "apps": [  # state: configured, or a platform's merchant app: authorized, frozen, no set 18
            {"appid": mini_program.appid, "name": mini_program.name, "state": mini_program.state_word}
            for mini_program in current_app.extensions["apps"]
        ],
        "consent": consent_by_template(window, credits["by_template"], app_id),
        "credits": credits,
        "held": held_messages(app_id),
        "quotas": send_quotas(app_id),
        "sends": sends(window, app_id),
        "failures": recent_failures(app_id=app_id),
        "unknown": unknown_messages(app_id=app_id),
        "latency": wechat_latency(),
        "reasons": OUTCOME_REASONS,
    }
