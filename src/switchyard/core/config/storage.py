"""Config for shared state: Redis for counters, breakers, sticky sessions, caches."""

from __future__ import annotations

from pydantic import Field

from switchyard.core.config.base import Strict


class RedisConfig(Strict):
    """One Redis shared by every gateway replica; unset means in-process state only."""

    url: str = Field(description="redis://host:port/db")
    prefix: str = Field(default="switchyard:", description="Prefix of every key the gateway writes.")
    connect_timeout: float = Field(default=1.0, gt=0)
    operation_timeout: float = Field(default=0.5, gt=0)
