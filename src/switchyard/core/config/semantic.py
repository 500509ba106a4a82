"""Config of the semantic cache: ``cache.semantic`` and an alias's ``cache.semantic``.

The section says how prompts are embedded and compared; an alias opts in (a
semantic cache is approximate: it reuses an answer for a prompt that *means*
the same, not one that is the same)::

    cache:
      semantic:
        embedding: {model: minilm}   # the embedded model (default), or {alias: <an embedding alias>}
        threshold: 0.9
    models:
      chat:
        cache: {semantic: {threshold: 0.95}}   # or semantic: true (the section's threshold)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from switchyard.core.config.base import Strict


class SemanticEmbedding(Strict):
    """Where vectors come from: the embedded model, or an embedding alias the gateway serves."""

    model: Literal["minilm"] | None = Field(
        default=None, description="minilm: all-MiniLM-L6-v2 on this CPU from installed weights (the default).")
    path: str | None = Field(default=None, description="With model: a directory holding another BERT "
                                                       "sentence-transformers model (config.json, tokenizer.json, "
                                                       "model.safetensors) instead of the packaged weights.")
    alias: str | None = Field(default=None, description="An embedding alias of models:, called through the "
                                                        "gateway's own pipeline (any provider).")

    @model_validator(mode="after")
    def _one_source(self) -> SemanticEmbedding:
        if self.alias is not None and (self.model is not None or self.path is not None):
            raise ValueError("embedding: either alias or model (and path), not both")
        return self

    @property
    def source(self) -> str:
        return f"alias:{self.alias}" if self.alias is not None else "minilm"


class SemanticConfig(Strict):
    """``cache.semantic`` — how the aliases that opt in match prompts by meaning."""

    embedding: SemanticEmbedding = Field(default_factory=SemanticEmbedding)
    threshold: float = Field(default=0.9, ge=0.0, le=1.0,
                             description="Cosine similarity at or above which an earlier answer is used.")
    max_turns: int = Field(default=3, ge=1, le=1000, description="Conversations with more user turns bypass.")
    max_chars: int = Field(default=2000, ge=1, le=1_000_000, description="A longer last user turn bypasses.")
    exact_numbers: bool = Field(default=True, description="The numbers in the last turn must be equal for a hit.")
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000,
                             description="Entries kept at most (each replica's index; in Redis, all of them).")
    max_pending: int = Field(default=256, ge=1, le=100_000,
                             description="Prompts waiting for the embedder at most; past it, requests bypass.")
    preload: bool = Field(default=True, description="Load the embedded model when the gateway starts (else "
                                                    "on the first request that needs it).")


class AliasSemantic(Strict):
    """An alias's ``cache.semantic``: on, with its own threshold if given."""

    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description="This alias's threshold (default: cache.semantic.threshold).")
