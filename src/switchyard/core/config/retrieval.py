"""Config of retrieval over HTTP (``retrieval:``; absent: no ``/v1/retrieve`` route at all).

::

    retrieval:
      pipelines:
        handbook: pipelines/handbook.yaml   # a retrieval pipeline (switchyard.components.pipelines)

Each pipeline is built on its first request and its model calls (embeddings,
reranking, answers) go through this gateway's pipeline as the HTTP caller, so
the caller's key, model allowlist, limits and budgets apply. A caller that
belongs to a tenant searches the namespace named after its tenant, never
another; a caller without one (no auth, the master key) names the namespace in
the request or gets the pipeline's.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from switchyard.core.config.base import Strict


class RetrievalConfig(Strict):
    pipelines: dict[str, str] = Field(
        min_length=1, description="Pipeline names (as requests give them) to their YAML files.")
    max_in_flight: int = Field(32, ge=1, le=10_000,
                               description="Retrieval requests served at once; beyond, 429 (each may embed, "
                                           "rerank and answer).")

    @field_validator("pipelines")
    @classmethod
    def _named(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not name or not path:
                raise ValueError("each pipeline needs a name and a path to its YAML file")
        return value
