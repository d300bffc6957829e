"""Recipients as business code names them (docs/api.md, Recipients).

A recipient is exactly one of `openid`, `user_id`, `external_id` (the business system's own
id, bound to a user) or `phone_number` (the number the user shared, compared in E.164; the
schema has already normalised it). Each kind is one indexed column of `users`, so a batch's
recipients are found with one query per kind (per 500 values), never one per recipient.
Always within one app: a user of another app is no recipient (user_not_found).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from backend import errors
from backend.extensions import db
from backend.models import Subscription, User
from backend.users import personal

KINDS = ("openid", "user_id", "external_id", "phone_number")
_COLUMNS = {
    "openid": User.openid,
    "user_id": User.id,
    "external_id": User.external_id,
    "phone_number": User.phone_hash,  # compared by keyed hash (users/personal.py), never in clear
}
CHUNK = 500  # values per IN (...): well under every database's bound-parameter limit


@dataclass(frozen=True)
class Match:
    user_id: int
    openid: str


Key = tuple[str, Any]


def recipient_key(recipient: Mapping[str, Any]) -> Key:
    """The (kind, value) a validated recipient names."""
    for kind in KINDS:
        if recipient.get(kind) is not None:
            return kind, recipient[kind]
    raise ValueError("a recipient names none of openid, user_id, external_id, phone_number")


def find(app_id: str, keys: Iterable[Key]) -> dict[Key, list[Match]]:
    """The users of `app_id` each key names (several only for a phone number), by one query per kind."""
    wanted: dict[str, set[Any]] = {}
    for kind, value in keys:
        wanted.setdefault(kind, set()).add(value)
    found: dict[Key, list[Match]] = {}
    for kind, values in wanted.items():
        column = _COLUMNS[kind]
        # A phone number is looked for by its hashes (under every key still accepted), each mapped back.
        by_stored = personal.hashes_of(values) if kind == "phone_number" else {value: value for value in values}
        ordered = sorted(by_stored)
        for start in range(0, len(ordered), CHUNK):
            rows = db.session.execute(
                sa.select(User.id, User.openid, column.label("key"))
                # An erased user is no recipient (only its user_id still matches): user_not_found.
                .where(User.app_id == app_id, column.in_(ordered[start : start + CHUNK]), User.erased_at.is_(None))
                .order_by(User.id)
            )
            for row in rows:
                found.setdefault((kind, by_stored[row.key]), []).append(Match(row.id, row.openid))
    for key, matches in found.items():  # a user found under two keys' hashes is one match
        found[key] = sorted(set(matches), key=lambda match: match.user_id)
    return found


def _unresolved(matches: list[Match]) -> str | None:
    """The error code when `matches` is not one user: user_not_found, ambiguous_recipient."""
    if not matches:
        return errors.UserNotFound.code
    if len(matches) > 1:
        return errors.AmbiguousRecipient.code
    return None


def resolve(app_id: str, recipient: Mapping[str, Any]) -> Match:
    """The one user of `app_id` a recipient names; UserNotFound (404) or AmbiguousRecipient (409) otherwise."""
    key = recipient_key(recipient)
    matches = find(app_id, [key]).get(key, [])
    if not matches:
        raise errors.UserNotFound("No user with that {kind}.", params={"kind": key[0]})
    if len(matches) > 1:
        raise errors.AmbiguousRecipient(details={"user_ids": [match.user_id for match in matches]})
    return matches[0]


def resolve_batch(app_id: str, recipients: list[Mapping[str, Any]]) -> list[Match | str]:
    """Per recipient, in order: its user, or the error code why there is none
    (`user_not_found`, `ambiguous_recipient`), which becomes that message's outcome."""
    keys = [recipient_key(recipient) for recipient in recipients]
    found = find(app_id, keys)
    resolved: list[Match | str] = []
    for key in keys:
        matches = found.get(key, [])
        resolved.append(_unresolved(matches) or matches[0])
    return resolved


def as_send_fields(app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A send's fields with an `external_id` or `phone_number` recipient replaced by the `user_id`
    it names. openid and user_id go on as given: the send path looks them up (and caches them)."""
    kind, _ = recipient_key(body)
    if kind in ("openid", "user_id"):
        return body
    user_id = resolve(app_id, body).user_id
    return {**{name: value for name, value in body.items() if name not in KINDS}, "user_id": user_id}


# -- business code's look-ups (`GET /api/v1/users`) ----------------------------------------

_LOOKUP_COLUMNS = {**_COLUMNS, "unionid": User.unionid}


def users_where(app_ids: Iterable[str], kind: str, value: Any) -> list[User]:
    """The users of these apps whose `kind` (openid, external_id, phone_number in E.164, unionid)
    is `value`: a unionid names the same person in each app."""
    column = _LOOKUP_COLUMNS[kind]
    condition = column.in_(personal.phone_hashes(value)) if kind == "phone_number" else column == value
    query = sa.select(User).where(User.app_id.in_(sorted(app_ids)), condition)
    return list(db.session.scalars(query.order_by(User.id)))


def subscriptions_of(users: list[User]) -> dict[int, list[Subscription]]:
    """Each user's subscriptions, by template id: one query for them all."""
    by_user: dict[int, list[Subscription]] = {user.id: [] for user in users}
    ids = sorted(by_user)
    for start in range(0, len(ids), CHUNK):
        query = (
            sa.select(Subscription)
            .where(Subscription.user_id.in_(ids[start : start + CHUNK]))
            .order_by(Subscription.user_id, Subscription.template_id)
        )
        for subscription in db.session.scalars(query):
            by_user[subscription.user_id].append(subscription)
    return by_user
