"""A user's personal data at rest: phone numbers and session keys sealed with the app's data keys.

The database holds `users.phone_number`, `users.pure_phone_number` and `users.session_key`
sealed (AES-GCM, backend/infra/data_keys.py) and `users.phone_hash`, the keyed hash of the number
in E.164 that sends and look-ups by `phone_number` compare. A look-up tries the hash under the
current key and under each key of `DATA_KEYS_OLD`, so rows not yet re-sealed by `wx keys rotate`
are still found. Nothing here logs: the values are the reason this module exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app

from backend.infra.data_keys import DataKeys
from backend.models import User
from backend.users.phones import to_e164


def data_keys() -> DataKeys:
    """The app's keys, built once per app (per configured value: a test may change them)."""
    config = current_app.config
    cache_key = (config["DATA_KEY"], tuple(config["DATA_KEYS_OLD"]), config["SECRET_KEY"])
    cached = current_app.extensions.get("data_keys")
    if cached is None or cached[0] != cache_key:
        cached = (cache_key, DataKeys.from_config(config))
        current_app.extensions["data_keys"] = cached
    return cached[1]


def phone_hashes(e164: str) -> list[str]:
    """The hashes a row holding this number may carry: the current key's first, then the old keys'."""
    keys = data_keys()
    return [keys.lookup_hash(e164), *keys.old_lookup_hashes(e164)]


def hashes_of(values: Iterable[str]) -> dict[str, str]:
    """{hash: number} for every number and every key still accepted: one IN (...) finds them all."""
    return {digest: value for value in values for digest in phone_hashes(value)}


def store_phone(user: User, info: Mapping[str, Any]) -> None:
    """Seal what getuserphonenumber answered onto the user, with the hash sends look it up by."""
    keys = data_keys()
    number = info.get("phoneNumber")
    user.phone_number = keys.seal_optional(number)
    user.pure_phone_number = keys.seal_optional(info.get("purePhoneNumber"))
    user.country_code = info.get("countryCode")
    e164 = to_e164(number, user.country_code)
    user.phone_hash = keys.lookup_hash(e164) if e164 else None


def clear_phone(user: User) -> None:
    """Forget the user's phone number (and so every way of finding them by it)."""
    user.phone_number = user.pure_phone_number = user.country_code = user.phone_hash = None


def phone_of(user: User) -> str | None:
    """The number as WeChat gave it (`phoneNumber`), or None."""
    return data_keys().open_optional(user.phone_number)


def pure_phone_of(user: User) -> str | None:
    return data_keys().open_optional(user.pure_phone_number)


def numbers_of(user: User) -> list[str]:
    """The user's number in each spelling a document may hold it (as WeChat gave it, without the
    country code, in E.164), opened: what an erase looks for in stored JSON."""
    number, pure = phone_of(user), pure_phone_of(user)
    spellings = (number, pure, to_e164(number, user.country_code) if number else None)
    return sorted({spelling for spelling in spellings if spelling})


def seal_session_key(session_key: str | None) -> str | None:
    return data_keys().seal_optional(session_key)


def session_key_of(user: User) -> str | None:
    """The user's WeChat session_key in clear, for a call that needs it (never for a log or an answer)."""
    return data_keys().open_optional(user.session_key)
