"""Config for the audit log: request records, bodies (sealed), retention."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from switchyard.core.config.base import Strict


class AuditConfig(Strict):
    """The hash-chained audit log in the durable store (``storage.url``).

    Admin actions are always recorded. A record per request (its metadata:
    who, which alias and deployment, status, tokens — never the prompt) is
    written with ``requests: true``; its body too with ``include_bodies: true``,
    then sealed (AES-256-GCM) with ``encryption_key``.
    """

    requests: bool = Field(default=False, description="A record of every request's metadata.")
    include_bodies: bool = Field(default=False, description="Add the request body, sealed with encryption_key.")
    encryption_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes (`openssl rand -base64 32`); a secret")
    retention_days: float | None = Field(default=None, gt=0,
                                         description="Records older than this are pruned (the chain stays verifiable).")
    buffer: int = Field(default=10_000, ge=1, le=10_000_000, description="Records held before the writer catches up.")
    overflow: Literal["block", "drop"] = Field(
        default="block", description="A full buffer: block (requests wait; nothing lost) or drop (counted).")

    @field_validator("encryption_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset, or an empty ${ENV:-}
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (e.g. `openssl rand -base64 32`)") from None
        if len(raw) != 32:
            raise ValueError(f"must decode to 32 bytes, not {len(raw)}")
        return value

    @model_validator(mode="after")
    def _bodies_need_a_key(self) -> AuditConfig:
        if self.include_bodies and self.encryption_key is None:
            raise ValueError("include_bodies needs encryption_key: bodies are stored sealed, never in clear")
        if self.include_bodies and not self.requests:
            raise ValueError("include_bodies needs requests: true")
        return self
