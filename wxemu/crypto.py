"""WeChat's side of message-push crypto: the signatures and the safe-mode `Encrypt` it sends.

Written from docs/wechat.md §6 alone, not from the backend's code: the emulator is a witness
of how WeChat behaves, so a misreading of the format in the backend must not be copied here
(tests/wechat/test_crypto.py has each implementation decrypt the other's).

- A signature is the sha1 hex of the parts sorted as strings and concatenated: `signature` over
  (Token, timestamp, nonce), `msg_signature` over the same plus `Encrypt`.
- `Encrypt` is base64 of AES-256-CBC over random(16) + len(message) as 4 bytes big-endian +
  message + appid, PKCS#7-padded to a multiple of 32 bytes; the key is the EncodingAESKey
  (43 characters) + "=" decoded from base64, and the IV is the key's first 16 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_TO = 32  # WeChat pads to 32 bytes, twice AES's block: a PKCS#7 padder for 16 would be wrong
RANDOM_BYTES = 16
LENGTH_BYTES = 4


class CryptoError(ValueError):
    """An EncodingAESKey or an `Encrypt` WeChat would not have made."""


def sign(token: str, timestamp: str, nonce: str, encrypt: str | None = None) -> str:
    """`signature` (no `encrypt`) or `msg_signature` (with it) of a push."""
    parts = [token, timestamp, nonce] + ([encrypt] if encrypt is not None else [])
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's scheme


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise CryptoError("an EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise CryptoError("the EncodingAESKey is not base64") from exc
    if len(key) != 32:  # 43 characters always give 32 bytes; kept to say so if that ever breaks
        raise CryptoError("the EncodingAESKey does not give a 32-byte key")
    return key


def _aes(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(encoding_aes_key: str, appid: str, message: str, random16: bytes | None = None) -> str:
    """The `Encrypt` of `message` for the mini program `appid`; `random16` fixed only for test vectors."""
    key = aes_key(encoding_aes_key)
    prefix = random16 if random16 is not None else os.urandom(RANDOM_BYTES)
    if len(prefix) != RANDOM_BYTES:
        raise CryptoError("the random prefix is 16 bytes")
    body = message.encode("utf-8")
    plain = prefix + len(body).to_bytes(LENGTH_BYTES, "big") + body + appid.encode("utf-8")
    pad = PAD_TO - len(plain) % PAD_TO  # 1..32: a whole block of padding when already aligned
    plain += bytes([pad]) * pad
    encryptor = _aes(key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt(encoding_aes_key: str, encrypted: str) -> tuple[str, str]:
    """(message, appid) inside an `Encrypt`: what a receiver reads before checking the appid is its own."""
    key = aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except binascii.Error as exc:
        raise CryptoError("Encrypt is not base64") from exc
    if not raw or len(raw) % PAD_TO:
        raise CryptoError("Encrypt is not a whole number of 32-byte blocks")
    decryptor = _aes(key).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= PAD_TO or plain[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding: another key, or a damaged Encrypt")
    plain = plain[:-pad]
    head = RANDOM_BYTES + LENGTH_BYTES
    if len(plain) < head:
        raise CryptoError("Encrypt is too short")
    length = int.from_bytes(plain[RANDOM_BYTES:head], "big")
    if head + length > len(plain):
        raise CryptoError("the length inside Encrypt runs past its end")
    try:
        return plain[head : head + length].decode("utf-8"), plain[head + length :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CryptoError("Encrypt does not hold UTF-8") from exc
