"""Binding the business system's `external_id` to a user (docs/api.md, Recipients).

Directly, when business code knows the user (`bind`, `unbind`), or through a single-use code
it shows the person, who redeems it in the mini program (`create_code`, `redeem`). A code is
12 characters of Crockford's base32 (60 bits): with at most MAX_FAILURES wrong codes per user
a minute, guessing one takes longer than any code lives. Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import errors
from backend.db import work
from backend.extensions import db
from backend.infra import ratelimit
from backend.models import BindingCode, User, utcnow

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U to misread
CODE_LENGTH = 12
# What a person may type instead: lower case, and the letters Crockford reads as digits.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
KEEP_EXPIRED = timedelta(days=30)  # spent and expired codes kept this long, as the record of who linked
MAX_FAILURES = 5  # wrong codes per user in the last minute before redemption is held (429)
RATE_SCOPE = "binding"
MAX_IP_FAILURES = 20  # wrong codes per client IP, whoever the users, in the last minute
IP_RATE_SCOPE = "binding-ip"


def get_user(app_ids: Iterable[str], user_id: int, *, erased: bool = False) -> User:
    """The user with this id, when it is a user of one of `app_ids` (the apps the caller may act for).

    An erased user is 410 `user_erased`, unless `erased` (the erase itself, which is idempotent)."""
    # users.id is a 32-bit integer on PostgreSQL: a larger id can't exist (and would be a 500).
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None or user.app_id not in set(app_ids):
        raise errors.UserNotFound("No user with that {kind}.", params={"kind": "user_id"})
    if user.erased_at is not None and not erased:
        raise errors.UserErased(details={"user_id": user_id})
    return user


def bind(app_ids: Iterable[str], user_id: int, external_id: str) -> User:
    """Bind `external_id` to the user; ExternalIdTaken when another user of the app holds it."""
    user = get_user(app_ids, user_id)
    if user.external_id == external_id:
        return user
    holder = db.session.scalar(sa.select(User.id).where(User.app_id == user.app_id, User.external_id == external_id))
    if holder is not None:
        raise errors.ExternalIdTaken(details={"user_id": holder})
    with _binding():
        user.external_id = external_id
    return user


def unbind(app_ids: Iterable[str], user_id: int) -> User:
    user = get_user(app_ids, user_id)
    with work():
        user.external_id = None
    return user


@contextmanager
def _binding() -> Iterator[None]:
    """A unit of work that binds an external_id: ExternalIdTaken when it can't commit because a
    concurrent bind took the external_id first (the unique key); the unit is rolled back."""
    try:
        with work():
            yield
    except IntegrityError:
        raise errors.ExternalIdTaken() from None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise(typed: str) -> str | None:
    code = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def new_code() -> tuple[str, str]:
    """A fresh code and the SHA-256 to store in its place (the code is shown once, never kept)."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return code, code_hash(code)


def hash_of_typed(typed: str) -> str | None:
    """The stored form of a code as a person typed or scanned it; None when it can't be a code."""
    code = _normalise(typed)
    return code_hash(code) if code is not None else None


def create_code(app_id: str, external_id: str, expires_in: int) -> tuple[str, datetime]:
    """A new single-use code for `external_id` in `app_id`, and when it expires."""
    code, hashed = new_code()
    now = utcnow()
    expires_at = now + timedelta(seconds=expires_in)
    # Each new code prunes the long-expired ones (expires_at is indexed): the table stays small.
    with work():
        db.session.execute(sa.delete(BindingCode).where(BindingCode.expires_at < now - KEEP_EXPIRED))
        db.session.add(BindingCode(app_id=app_id, code_hash=hashed, external_id=external_id, expires_at=expires_at))
    return code, expires_at


@contextmanager
def counted_guess(user_id: int, client_ip: str) -> Iterator[None]:
    """Redeem one code inside this block: the redemption is a guess, counted before the code is
    looked at, per user and per client IP (guesses spread over many accounts), each in one step
    with its limit (ratelimit.attempt), so at most MAX_FAILURES concurrent guesses of one user
    are checked. RateLimited when either limit is reached. A block that raises
    BindingCodeInvalid leaves both counted; one that ends cleanly (a right code) or fails for
    another reason (a conflict, the database: no guess was refused) gives both back.

    Account codes and device codes share these counts: a guess is a guess, whichever it is for.
    """
    guess = ratelimit.attempt(RATE_SCOPE, str(user_id), MAX_FAILURES)
    try:
        from_ip = ratelimit.attempt(IP_RATE_SCOPE, client_ip, MAX_IP_FAILURES)
    except errors.RateLimited:
        guess.succeeded()  # not checked: not this user's failure
        raise
    try:
        yield
    except errors.BindingCodeInvalid:
        raise  # both attempts stay counted as failures
    except BaseException:
        guess.succeeded()
        from_ip.succeeded()
        raise
    guess.succeeded()
    from_ip.succeeded()


def redeem(user: User, typed: str, client_ip: str) -> User:
    """Bind the code's external_id to `user` and use the code up.

    The code is the business system's word that its holder is that person, so an external_id
    bound to another user (the person's previous WeChat account) moves to this one.
    BindingCodeInvalid for a code that is unknown, expired or used; RateLimited after
    MAX_FAILURES of those in a minute from the user, or MAX_IP_FAILURES from `client_ip`
    (counted in Redis, per process while it is down).
    """
    hashed = hash_of_typed(typed)
    # One unit: the code is used up with the binding it makes, or not at all.
    with counted_guess(user.id, client_ip), _binding():
        external_id = _use_up(hashed, user) if hashed is not None else None
        if external_id is None:
            raise errors.BindingCodeInvalid()
        if user.external_id != external_id:
            db.session.execute(
                sa.update(User)
                .where(User.app_id == user.app_id, User.external_id == external_id, User.id != user.id)
                .values(external_id=None)
            )
            user.external_id = external_id
    return user


def _use_up(hashed: str, user: User) -> str | None:
    """Mark the code redeemed by `user`; its external_id, or None when it is unknown, expired or
    used. One conditional UPDATE: two redemptions of one code can't both see it unused."""
    now = utcnow()
    return db.session.scalar(
        sa.update(BindingCode)
        .where(
            BindingCode.code_hash == hashed,
            BindingCode.app_id == user.app_id,  # a code of another app is no code here
            BindingCode.redeemed_at.is_(None),
            BindingCode.expires_at > now,
        )
        .values(redeemed_at=now, redeemed_by=user.id)
        .returning(BindingCode.external_id)
    )
