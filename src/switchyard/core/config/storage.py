"""Config for state: ``redis`` (shared by replicas) and ``storage`` (the durable store).

Both URLs may hold a password, so both are secrets that never print; a bad
URL is reported with its field path, never echoed. ``switchyard.storage.open_store``
opens either (``redis.url`` as the shared store, ``storage.url`` as the durable one).
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from switchyard.core.config.base import Strict


class RedisConfig(Strict):
    """One Redis shared by every gateway replica; unset means in-process state only."""

    url: SecretStr = Field(description="redis://[user:password@]host:port/db; a secret (it may hold a password)")
    prefix: str = Field(default="switchyard:", description="Prefix of every key the gateway writes.")
    connect_timeout: float = Field(default=1.0, gt=0)
    operation_timeout: float = Field(default=0.5, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")  # never echo: it may hold a password
        return value


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StorageConfig(Strict):
    """The durable store: keys, spend, audit, batches (and the tables of ``switchyard db upgrade``)."""

    url: SecretStr = Field(
        default=SecretStr("memory://"),
        description="memory:// (in-process, the default), sqlite:///path, postgresql://[user:password@]host/db, "
                    "redis://…, or a scheme a plugin registers; a secret (it may hold a password)",
    )

    @field_validator("url")
    @classmethod
    def _shape(cls, value: SecretStr) -> SecretStr:
        if not _SCHEME.match(value.get_secret_value()):
            raise ValueError("must be a URL with a scheme, such as memory://, sqlite:///path or postgresql://host/db")
        return value
