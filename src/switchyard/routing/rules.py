"""Routing rules: which alias serves a request, decided before the alias is resolved.

Rules come from ``routing.rules`` and are tried in order; the first whose
every condition holds names the alias (``route``). A rule's conditions:
the requested model, estimated prompt tokens (min/max), a regex or keywords
in the prompt, request metadata (or the key's tenant/team/tier and metadata),
headers, tags (the request's and the key's), the capabilities the request needs, and a cost ceiling on the
requested model. Nothing here runs when no rules are configured.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.routing import RuleConfig
from switchyard.core.tokens import TokenCounter
from switchyard.routing.capabilities import Needs, needs_of, prompt_tokens, request_text

#: Estimated US dollars for a request on an alias (None when unknown).
CostOf = Callable[[str, int, int], "float | None"]


@dataclass(slots=True)
class Facts:
    """What rules read from one request, each computed once and only if asked."""

    request: Any
    call: Call
    tokens: TokenCounter | None
    _text: str | None = None
    _needs: Needs | None = None
    _prompt: int | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            body = getattr(self.request, "body", None)
            self._text = request_text(body) if isinstance(body, dict) else ""
        return self._text

    @property
    def needs(self) -> Needs:
        if self._needs is None:
            self._needs = needs_of(self.request)
        return self._needs

    def prompt_tokens(self, near: int) -> int:
        """Prompt tokens: the rough estimate, or the tokenizer's count when it is within 30% of ``near``."""
        if self._prompt is not None:
            return self._prompt
        rough = self.needs.rough_tokens
        if abs(rough - near) > 0.3 * max(near, 1):
            return rough
        self._prompt = prompt_tokens(self.request, self.needs, self.tokens)
        return self._prompt

    def metadata(self, key: str) -> str | None:
        metadata = getattr(self.request, "metadata", None) or {}
        value = metadata.get(key)
        if value is None:
            caller = self.call.caller
            if caller is not None:
                value = getattr(caller, key, None) if key in ("tenant", "team", "tier") else None
                if value is None:
                    value = (getattr(caller, "metadata", None) or {}).get(key)
        return None if value is None else str(value)

    def tags(self) -> set[str]:
        """The request's ``metadata.tags`` and the calling key's tags."""
        metadata = getattr(self.request, "metadata", None) or {}
        value = metadata.get("tags")
        out: set[str] = set()
        if isinstance(value, str):
            out = {t.strip() for t in value.split(",") if t.strip()}
        elif isinstance(value, list):
            out = {str(t) for t in value}
        caller = self.call.caller
        if caller is not None and getattr(caller, "tags", None):
            out |= caller.tags
        return out


@dataclass(slots=True)
class Rule:
    """A compiled rule; ``test`` returns None when it matches, else the failed condition."""

    config: RuleConfig
    cost_of: CostOf | None = None
    _regex: re.Pattern[str] | None = None
    _keywords: list[re.Pattern[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        when = self.config.when
        if when.regex is not None:
            self._regex = re.compile(when.regex, re.IGNORECASE)
        self._keywords = [re.compile(r"\b" + re.escape(k) + r"\b", re.IGNORECASE) for k in when.keywords or ()]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def route(self) -> str:
        """The alias named by ``route`` (a selecting rule: its default)."""
        return self.config.target

    def test(self, model: str, facts: Facts) -> str | None:
        when = self.config.when
        if when.models is not None and model not in when.models:
            return "models"
        if when.headers is not None:
            for name, expected in when.headers.items():
                if facts.call.headers.get(name) != expected:
                    return f"headers.{name}"
        if when.metadata is not None:
            for key, expected in when.metadata.items():
                if facts.metadata(key) != expected:
                    return f"metadata.{key}"
        if when.tags is not None and not set(when.tags) <= facts.tags():
            return "tags"
        if when.needs is not None and not set(when.needs) <= set(facts.needs.abilities):
            return "needs"
        if when.min_prompt_tokens is not None and facts.prompt_tokens(when.min_prompt_tokens) < when.min_prompt_tokens:
            return "min_prompt_tokens"
        if when.max_prompt_tokens is not None and facts.prompt_tokens(when.max_prompt_tokens) > when.max_prompt_tokens:
            return "max_prompt_tokens"
        if self._regex is not None and self._regex.search(facts.text) is None:
            return "regex"
        if self._keywords and not any(k.search(facts.text) for k in self._keywords):
            return "keywords"
        if when.cost_above is not None:
            cost = None
            if self.cost_of is not None:
                needs = facts.needs
                cost = self.cost_of(model, facts.prompt_tokens(0), needs.output_tokens)
            if cost is None or cost <= when.cost_above:
                return "cost_above"
        return None


class RuleSet:
    """The configured rules, in order."""

    def __init__(self, rules: list[RuleConfig], tokens: TokenCounter | None = None, cost_of: CostOf | None = None) -> None:
        self.rules = [Rule(rule, cost_of) for rule in rules]
        self.tokens = tokens

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, model: str, request: Any, call: Call) -> Rule | None:
        """The first rule that matches, or None."""
        facts = Facts(request, call, self.tokens)
        for rule in self.rules:
            if rule.test(model, facts) is None:
                return rule
        return None

    def explain(self, model: str, request: Any, call: Call) -> list[dict[str, Any]]:
        """Each rule until the first match, with the condition that failed."""
        facts = Facts(request, call, self.tokens)
        out: list[dict[str, Any]] = []
        for rule in self.rules:
            failed = rule.test(model, facts)
            out.append({"rule": rule.name, "route": rule.route, "matched": failed is None, "failed": failed})
            if failed is None:
                break
        return out
