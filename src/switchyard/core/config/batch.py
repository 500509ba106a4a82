"""Config for the Files and Batches API (``batch:``) and the read models (``projections:``).

Example::

    storage:
      url: sqlite:///switchyard.db   # batches live in the durable store: SQLite or PostgreSQL
    batch:
      in_gateway: true       # gateway processes run lines themselves (embedded; with redis: also consumers)
      concurrency: 16        # lines in flight per process
      chunk_lines: 100       # lines per unit of work (a stream entry, a transaction of results)
      lease: 30              # s before work held by a dead worker is taken over
    models:
      gpt-4o-mini:
        batch: {mode: native}          # the provider's own batch API, at its batch price
        deployments: [{provider: openai, model: gpt-4o-mini}]

Per alias (``models.<alias>.batch``): ``mode: gateway`` (the default) runs each line through the
gateway's pipeline on its own workers, billed — and priced — as a live request unless
``discount: true`` says the upstream bills it at its batch rate; ``mode: native`` hands the whole
batch to the provider's batch API (OpenAI, Anthropic) and prices every line at the batch rate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from switchyard.core.config.base import Strict

#: The endpoints a batch may target (``endpoint`` of ``POST /v1/batches``, ``url`` of its lines).
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")


class AliasBatch(Strict):
    """How the batches of one alias run (``models.<alias>.batch``)."""

    mode: Literal["gateway", "native"] = Field(
        default="gateway", description="gateway: each line through the gateway's pipeline on its workers; "
                                       "native: the whole batch on the provider's own batch API (OpenAI, Anthropic).")
    discount: bool | None = Field(
        default=None, description="Price lines at the provider's batch rate. Default: true for native batches "
                                  "(what the provider bills), false for gateway ones (each line is a live call).")

    @property
    def discounted(self) -> bool:
        return self.mode == "native" if self.discount is None else self.discount


class BatchConfig(Strict):
    """The Files and Batches API; the section's presence turns it on (it needs a SQL ``storage.url``)."""

    in_gateway: bool = Field(default=True, description="Gateway processes run batch lines too (without redis: the "
                                                       "only workers there are; with it: consumers beside "
                                                       "`switchyard worker` processes).")
    concurrency: int = Field(default=16, ge=1, le=4096, description="Lines in flight per process.")
    chunk_lines: int = Field(default=100, ge=1, le=1000, description="Lines per unit of work (one stream entry, "
                                                                    "one transaction of results).")
    lease: float = Field(default=30.0, gt=0, le=3600, description="Seconds before the work of a worker that stopped "
                                                                  "renewing it (died) is taken over.")
    sweep_interval: float = Field(default=1.0, gt=0, le=60, description="Seconds between sweeps: expiry, "
                                                                        "cancellation, provider batches, requeueing.")
    attempts: int = Field(default=4, ge=1, le=20, description="Tries per line on a refusal that passes "
                                                              "(rate limits, queue full, upstream 429/5xx).")
    max_retry_wait: float = Field(default=30.0, gt=0, description="Seconds at most between two tries of a line.")
    max_file_bytes: int = Field(default=100 * 1024 * 1024, ge=1024, le=2 * 1024 ** 3,
                                description="Largest upload to /v1/files.")
    max_lines: int = Field(default=50_000, ge=1, le=1_000_000, description="Lines per batch at most.")
    max_active: int = Field(default=1000, ge=1, description="Batches in progress at once (beyond: 429).")
    completion_window: float = Field(default=86_400.0, gt=0, description="Seconds a batch may run before it "
                                                                         "expires (OpenAI's 24h).")
    native_poll_interval: float = Field(default=10.0, gt=0, description="Seconds between polls of a provider's "
                                                                        "batch.")


class ProjectionsConfig(Strict):
    """The read models (batch status, usage and spend over time), kept up to date from the events."""

    interval: float = Field(default=0.5, gt=0, le=60, description="Seconds between looks for new events (a "
                                                                 "process applies its own at once).")
    page: int = Field(default=2000, ge=1, le=100_000, description="Events applied per transaction at most.")
    wait: float = Field(default=2.0, ge=0, le=60, description="Seconds a read waits for the events this process "
                                                             "appended to be applied (read your writes).")
