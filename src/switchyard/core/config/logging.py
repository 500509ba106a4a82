"""Config for the gateway's own logs: format, level, the access log, prompts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from switchyard.core.config.base import Strict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingConfig(Strict):
    """How log lines look and what the access log carries.

    Every line — the access log and every other record — is one line in
    ``format``: ``kv`` (``key=value``, quoted when needed) or ``json``.
    """

    format: Literal["kv", "json"] = "kv"
    level: LogLevel | None = Field(default=None, description="Overrides server.log_level when set.")
    access_log: bool = Field(default=True, description="One line per request at info level.")
    include_prompts: bool = Field(default=False, description="Put the request's messages in the access line.")
    prompt_max_chars: int = Field(default=2000, ge=0, le=1_000_000,
                                  description="With include_prompts, the messages are cut to this length.")
