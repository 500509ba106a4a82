"""Config for the Responses API (``POST /v1/responses``): how long stored responses are kept."""

from __future__ import annotations

from pydantic import Field

from switchyard.core.config.base import Strict


class ResponsesConfig(Strict):
    """Stored responses (``store: true``, the default) live in the durable store (``storage.url``)."""

    ttl: float = Field(default=30 * 24 * 3600, gt=0, le=10 * 365 * 24 * 3600,
                       description="Seconds a stored response is kept (and can be chained, read or listed).")
