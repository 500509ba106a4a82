"""Config of smart model selection: a routing rule's ``select:``.

A rule that selects sends a matching request to the alias its content calls for,
chosen by one of two selectors::

    routing:
      rules:
        - name: by-difficulty
          when: {models: [auto]}
          select:
            semantic:                       # the nearest route example, by meaning
              routes:
                strong: ["Prove that there are infinitely many primes.", ...]
                cheap: ["What is the capital of France?", ...]
              threshold: 0.5                # below it for every route: default
              default: cheap
        - name: by-classifier
          when: {models: [auto-classified]}
          select:
            classifier:                     # a small model asked through the gateway
              alias: small
              labels: {easy: cheap, hard: strong}
              timeout: 2
              default: strong               # when it fails, is late, or names no label
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.semantic import SemanticEmbedding

Example = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SemanticSelect(Strict):
    """Route examples per target alias, embedded once; a request goes to the route of its
    nearest example when that is at least ``threshold`` similar, else to ``default``."""

    routes: dict[str, Annotated[list[Example], Field(min_length=1, max_length=1000)]] = Field(
        min_length=1, description="Target alias -> example prompts of what it should serve.")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Cosine similarity the nearest example "
                                                                      "must reach.")
    default: str = Field(min_length=1, description="The alias when no route is near enough (or the embedder "
                                                   "cannot answer).")
    embedding: SemanticEmbedding = Field(default_factory=SemanticEmbedding,
                                         description="Where vectors come from (default: the embedded MiniLM).")
    max_chars: int = Field(default=2000, ge=1, le=100_000, description="Of the last user turn, compared.")


class ClassifierSelect(Strict):
    """A small alias asked which label a request is; the label names the target alias."""

    alias: str = Field(min_length=1, description="The classifier: an alias of models:, called through the gateway.")
    labels: dict[Label, str] = Field(min_length=1, description="Label the classifier answers -> target alias.")
    instructions: str | None = Field(default=None, max_length=20_000, description="Its system prompt (default: "
                                                                                   "asks for one of the labels).")
    timeout: float = Field(default=2.0, gt=0, le=60, description="Seconds it may take before default is chosen.")
    default: str = Field(min_length=1, description="The alias when it fails, is late, or answers no label.")
    max_chars: int = Field(default=4000, ge=1, le=100_000, description="Of the last user turn, sent to it.")


class SelectConfig(Strict):
    """One selector: ``semantic`` or ``classifier``."""

    semantic: SemanticSelect | None = None
    classifier: ClassifierSelect | None = None

    @model_validator(mode="after")
    def _one(self) -> SelectConfig:
        if (self.semantic is None) == (self.classifier is None):
            raise ValueError("select: give exactly one of semantic or classifier")
        return self

    @property
    def default(self) -> str:
        chosen = self.semantic or self.classifier
        assert chosen is not None
        return chosen.default

    @property
    def targets(self) -> list[str]:
        """Every alias this selector may choose."""
        if self.semantic is not None:
            return [*self.semantic.routes, self.semantic.default]
        assert self.classifier is not None
        return [*self.classifier.labels.values(), self.classifier.default]
