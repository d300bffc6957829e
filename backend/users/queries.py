"""Reads for the API: a user as business code sees them, with their subscriptions."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.models import Subscription, User
from backend.users import recipients


@dataclass(frozen=True)
class Account:
    user: User
    subscriptions: list[Subscription]
    # Filled by the API from consent/ (users/ imports no other capability): held messages per
    # template, and the "always keep" settings per template from wx.getSetting.
    waiting: dict[str, int] = field(default_factory=dict)
    always: dict[str, str] = field(default_factory=dict)


def accounts(users: list[User]) -> list[Account]:
    """Each user with their subscriptions: one query for them all."""
    subscriptions = recipients.subscriptions_of(users)
    return [Account(user, subscriptions[user.id]) for user in users]


def account(user: User) -> Account:
    return accounts([user])[0]
