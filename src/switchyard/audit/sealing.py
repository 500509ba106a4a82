"""Request bodies in the audit log are sealed: AES-256-GCM under the configured key.

A sealed body is ``base64(nonce(12) + ciphertext + tag(16))``; the entry's
request id is the associated data, so a body moved onto another entry fails
to open. Without the key the log shows only that a body was there.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealError(ValueError):
    """A sealed body that does not open with this key (wrong key, altered, or moved)."""


class Sealer:
    """Seals and opens bodies with one 32-byte key (given as base64)."""

    __slots__ = ("_aead",)

    def __init__(self, key_b64: str) -> None:
        key = base64.b64decode(key_b64, validate=True)
        if len(key) != 32:
            raise ValueError("the audit encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, body: bytes, request_id: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, body, request_id.encode())).decode("ascii")

    def open(self, sealed: str, request_id: str) -> bytes:
        try:
            raw = base64.b64decode(sealed, validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], request_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealError("the body does not open with this key (wrong key, altered, or moved)") from exc

    def __repr__(self) -> str:
        return "Sealer(key=[redacted])"
