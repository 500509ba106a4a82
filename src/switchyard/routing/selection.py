"""Smart model selection: the selectors of routing rules with ``select:``, and their choices.

A rule that selects (``core/config/selection.py``) names no alias itself: when it
matches, its selector reads the request's last user turn and chooses one of its
target aliases — ``semantic`` by the nearest route example (``semantic_router.py``),
``classifier`` by a small model's label (``classifier_router.py``). A selector that
cannot decide (no user text, the embedder or classifier failed or was late, nothing
near enough, no label) chooses its ``default``, and says why. The choice is in the
``x-switchyard-selection`` header and in the dry-run (``routing/dry_run.py``), with
the alternatives it weighed.

``Selectors`` holds one selector per selecting rule, built when the gateway starts
(the semantic ones embed their examples then, in the background), and closes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from switchyard.core.call import Call
from switchyard.core.config.routing import RoutingConfig

log = logging.getLogger("switchyard.routing")


@dataclass(frozen=True, slots=True)
class Choice:
    """What a selector chose: the alias, how (``semantic``, ``classifier``, or ``default`` with
    ``reason``), its score (a similarity) or label, and the alternatives it weighed."""

    route: str
    how: str
    score: float | None = None
    label: str | None = None
    reason: str | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)

    def header(self) -> str:
        """The ``x-switchyard-selection`` value: ``semantic; similarity=0.83``, ``classifier; label=hard``,
        ``default; reason=below_threshold``."""
        if self.reason is not None:
            return f"default; reason={self.reason}"
        if self.label is not None:
            return f"{self.how}; label={self.label}"
        return f"{self.how}; similarity={self.score:.3f}"

    def report(self, method: str) -> dict[str, Any]:
        out: dict[str, Any] = {"method": method, "route": self.route, "default": self.reason is not None}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.score is not None:
            out["similarity"] = round(self.score, 4)
        if self.label is not None:
            out["label"] = self.label
        out["alternatives"] = self.alternatives
        return out


class Selector(Protocol):
    method: str

    async def start(self) -> None: ...

    async def choose(self, request: Any, call: Call) -> Choice: ...

    async def aclose(self) -> None: ...


class Selectors:
    """The selector of each selecting rule, by rule name."""

    def __init__(self, by_rule: dict[str, Selector]) -> None:
        self.by_rule = by_rule

    def __bool__(self) -> bool:
        return bool(self.by_rule)

    async def choose(self, rule: str, request: Any, call: Call) -> tuple[Choice, str]:
        """The choice of ``rule``'s selector for ``request``, and the selector's method."""
        selector = self.by_rule[rule]
        return await selector.choose(request, call), selector.method

    async def start(self) -> None:
        for selector in self.by_rule.values():
            await selector.start()

    async def aclose(self) -> None:
        for selector in self.by_rule.values():
            try:
                await selector.aclose()
            except Exception:
                log.exception("closing the selector failed")


def build_selectors(routing: RoutingConfig, *, catalog: Any, route: Callable[[], Any],
                    pipeline: Callable[[], Any]) -> Selectors | None:
    """A selector for each rule with ``select:`` (None when there is none). ``route()`` is the route
    stage (a classifier is asked through it), ``pipeline()`` the gateway's pipeline (an embedding alias)."""
    by_rule: dict[str, Selector] = {}
    for rule in routing.rules:
        select = rule.select
        if select is None:
            continue
        if select.semantic is not None:
            from switchyard.routing.semantic_router import SemanticSelector, embedder_for

            by_rule[rule.name] = SemanticSelector(select.semantic, embedder_for(select.semantic.embedding, pipeline))
        elif select.classifier is not None:
            from switchyard.routing.classifier_router import ClassifierSelector

            by_rule[rule.name] = ClassifierSelector(select.classifier, catalog, route)
    return Selectors(by_rule) if by_rule else None


def last_user_text(request: Any, max_chars: int) -> str:
    """The text of the request's last user turn (its text parts joined), at most ``max_chars``."""
    body = getattr(request, "body", None)
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or ()):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return content.strip()[:max_chars] if isinstance(content, str) else ""
    return ""
