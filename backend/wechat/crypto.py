"""Message-push signatures and safe-mode encryption (docs/wechat.md §6).

- `signature = sha1(sorted([token, timestamp, nonce]) joined)`; safe mode adds the
  `Encrypt` field to the sorted list for `msg_signature`.
- Safe mode: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7
  padding to 32 bytes; plaintext = random(16) + len(4, big-endian) + msg + appid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_BITS = 256  # WeChat pads to 32 bytes, not AES's 16


class PushCryptoError(ValueError):
    """A push could not be authenticated or decrypted; the text says why (never a secret)."""


def signature(*parts: str) -> str:
    """sha1 of the parts sorted lexicographically and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def signature_matches(expected_parts: tuple[str, ...], given: str | None) -> bool:
    return given is not None and hmac.compare_digest(signature(*expected_parts), given.lower())


class PushCipher:
    """Encrypts and decrypts safe-mode push bodies for one AppID."""

    def __init__(self, encoding_aes_key: str, appid: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError as exc:
            raise PushCryptoError("the EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise PushCryptoError("the EncodingAESKey must decode to 32 bytes")
        self._key = key
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        body = message.encode()
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.appid.encode()
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside `Encrypt`; refuses a bad ciphertext or another AppID's message."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except ValueError as exc:
            raise PushCryptoError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise PushCryptoError("Encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        try:
            unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError as exc:
            raise PushCryptoError("bad padding: wrong key or corrupted ciphertext") from exc
        if len(plain) < 20:
            raise PushCryptoError("decrypted message is too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, appid = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise PushCryptoError("decrypted length does not match")
        if not hmac.compare_digest(appid, self.appid.encode()):
            raise PushCryptoError("the message is for another AppID")
        try:
            return message.decode()
        except UnicodeDecodeError as exc:
            raise PushCryptoError("decrypted message is not UTF-8") from exc
