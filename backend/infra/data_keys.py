"""Personal data and stored credentials sealed at rest: AES-GCM with `DATA_KEY`, keyed hashes for look-ups.

A sealed value is text: `v1.<key id>.<base64url(nonce + ciphertext + tag)>`. The key id is the first
8 hex digits of SHA-256 over the key, so that a value sealed under a key now listed in
`DATA_KEYS_OLD` is still opened, and `needs_rotation` tells `wx keys rotate` which rows to
re-seal. Look-ups by value (a phone number) use `lookup_hash`: HMAC-SHA256 under a key derived from
the current data key, so the hash column never holds the value itself. The hash key changes with
the data key; rotation re-writes the hashes too.

Pure: the keys come from the caller (`DataKeys.from_config`), never from a global.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "v1"
NONCE_BYTES = 12  # AES-GCM's standard nonce; random per value (2^32 values per key stay far from a collision)
KEY_BYTES = 32


class DataKeyError(ValueError):
    """A key that is not 32 bytes of base64, or a sealed value no configured key opens."""


def parse_key(text: str) -> bytes:
    """32 bytes from base64 (standard or URL-safe, padding optional), or DataKeyError saying what is wrong."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError("is not base64") from None
    if len(key) != KEY_BYTES:
        raise DataKeyError(f"decodes to {len(key)} bytes; it needs {KEY_BYTES}")
    return key


def new_key_text() -> str:
    """A fresh key, as `DATA_KEY` takes it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def derived_key(secret: str, purpose: str) -> bytes:
    """32 bytes derived from a secret for one purpose (dev mode's data key, the erasure key)."""
    return hmac.new(secret.encode(), f"wxsub {purpose}".encode(), hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class DataKeys:
    """The current key (seals, hashes) and the old ones (still open)."""

    current: bytes
    old: tuple[bytes, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping) -> DataKeys:
        """From `DATA_KEY` / `DATA_KEYS_OLD`; without `DATA_KEY` (dev mode only), a key derived from SECRET_KEY."""
        raw = config["DATA_KEY"]
        current = parse_key(raw) if raw else derived_key(config["SECRET_KEY"], "data key")
        old = tuple(parse_key(text) for text in config["DATA_KEYS_OLD"])
        return cls(current, old)

    def _by_id(self) -> dict[str, bytes]:
        return {_key_id(key): key for key in (*self.old, self.current)}

    def seal(self, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(self.current).encrypt(nonce, text.encode(), FORMAT.encode())
        return f"{FORMAT}.{_key_id(self.current)}.{base64.urlsafe_b64encode(nonce + body).decode().rstrip('=')}"

    def open(self, sealed: str) -> str:
        try:
            version, key_id, payload = sealed.split(".", 2)
        except ValueError:
            raise DataKeyError("is not a sealed value") from None
        key = self._by_id().get(key_id)
        if version != FORMAT or key is None:
            raise DataKeyError("was sealed with a key that is neither DATA_KEY nor in DATA_KEYS_OLD")
        blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], FORMAT.encode()).decode()
        except InvalidTag:
            raise DataKeyError("does not open: tampered with, or sealed with another key of the same id") from None

    def open_optional(self, sealed: str | None) -> str | None:
        return None if sealed is None else self.open(sealed)

    def seal_optional(self, text: str | None) -> str | None:
        return None if text is None else self.seal(text)

    def needs_rotation(self, sealed: str) -> bool:
        """True when the value was sealed under an old key."""
        return not sealed.startswith(f"{FORMAT}.{_key_id(self.current)}.")

    def lookup_hash(self, text: str) -> str:
        """A keyed hash for equality look-ups (hex, 64 characters)."""
        hash_key = derived_key(self.current.hex(), "lookup hash")
        return hmac.new(hash_key, text.encode(), hashlib.sha256).hexdigest()

    def old_lookup_hashes(self, text: str) -> Iterable[str]:
        """The same hash under each old key: look-ups still find rows not yet rotated."""
        for key in self.old:
            yield hmac.new(derived_key(key.hex(), "lookup hash"), text.encode(), hashlib.sha256).hexdigest()
