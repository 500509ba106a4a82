"""Config for durable flows in the gateway (``flows:``): where their journal lives, the YAML
flows it serves by name, and whether this process takes queued runs.

Absent: no flow engine, nothing of ``switchyard.flows`` (nor DBOS) is imported.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from switchyard.core.config.base import Strict


class FlowsConfig(Strict):
    """The flow engine of ``/admin/flows`` (``switchyard.flows``, on DBOS)."""

    url: SecretStr = Field(default=SecretStr("sqlite:///switchyard-flows.db"),
                           description="The journal: sqlite:///PATH or postgresql://… (?schema=NAME); a secret.")
    definitions: dict[str, str] = Field(default_factory=dict,
                                        description="YAML flows started by name: name -> path of the file.")
    worker_concurrency: int = Field(default=8, ge=0, le=1000,
                                    description="Queued runs this process runs at once (0: none, only its own).")
    allow_inline: bool = Field(default=False,
                               description="POST /admin/flows/runs may carry a definition (never one with register:: "
                                           "importing code is for flows from files).")
    executor_id: str = Field(default="local", min_length=1, max_length=128,
                             description="This process's name in the journal: its unfinished runs are its to recover.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:///, postgresql:// or postgres://")
        return value
