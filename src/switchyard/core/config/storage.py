"""Config for shared state: Redis for counters, breakers, sticky sessions, caches."""

from __future__ import annotations

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
