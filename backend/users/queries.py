"""Reads for the API: a user as business code sees them, with their subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from backend.models import Subscription, User
from backend.users import recipients


@dataclass(frozen=True)
class Account:
    user: User
    subscriptions: list[Subscription]


def accounts(users: list[User]) -> list[Account]:
    """Each user with their subscriptions: one query for them all."""
    subscriptions = recipients.subscriptions_of(users)
    return [Account(user, subscriptions[user.id]) for user in users]


def account(user: User) -> Account:
    return accounts([user])[0]
