"""Measuring a selecting rule on a labelled set: how often it chooses the expected
alias, and what its choices cost against always sending the strongest model.

A labelled set is JSON lines ``{"prompt": "...", "route": "<the expected alias>"}``
(``tests/routing/fixtures/difficulty.jsonl`` ships sixty, labelled by difficulty).
Each prompt is asked of the rule's selector as a one-turn chat request; its cost is
the router's estimate on each alias (the prompt's tokens, ``expected_output_tokens``
of output, each alias's cheapest priced deployment). The baseline is the given alias,
else the dearest of the rule's targets. Run by
``switchyard route --config FILE --evaluate FILE.jsonl [--rule NAME] [--baseline ALIAS]``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from switchyard.core.call import Call
from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import validate_chat
from switchyard.routing.router import Router

#: Labelled prompts read at most.
MAX_LINES = 10_000


def read_labelled(text: str) -> list[tuple[str, str]]:
    """``(prompt, expected alias)`` per non-blank line; ``InvalidRequest`` naming the line when one is not."""
    out: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"line {number}: not JSON: {exc}") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not isinstance(item.get("route"), str):
            raise InvalidRequest(f'line {number}: expected {{"prompt": "...", "route": "<alias>"}}')
        out.append((item["prompt"], item["route"]))
        if len(out) > MAX_LINES:
            raise InvalidRequest(f"more than {MAX_LINES} labelled prompts")
    if not out:
        raise InvalidRequest("the labelled set is empty")
    return out


async def evaluate(router: Router, labelled: list[tuple[str, str]], *, rule: str | None = None,
                   baseline: str | None = None) -> dict[str, Any]:
    """The report (see the module docstring)."""
    selectors = router.selectors
    names = [r.name for r in (router.rules.rules if router.rules else ()) if r.config.select is not None]
    if not selectors or not names:
        raise InvalidRequest("no routing rule of this config has select:")
    if rule is None:
        rule = names[0]
    elif rule not in names:
        raise InvalidRequest(f"no selecting rule named {rule!r} (there are: {', '.join(names)})")
    config = next(r.config for r in router.rules.rules if r.name == rule)  # type: ignore[union-attr]
    assert config.select is not None
    targets = list(dict.fromkeys(config.select.targets))
    output = router.config.expected_output_tokens
    chosen_counts: Counter[str] = Counter()
    by_label: dict[str, dict[str, int]] = {}
    correct = defaults = 0
    cost = baseline_cost = 0.0
    unpriced: set[str] = set()
    misses: list[dict[str, Any]] = []
    method = ""
    for n, (prompt, expected) in enumerate(labelled):
        request = validate_chat({"model": "selection-eval", "messages": [{"role": "user", "content": prompt}]})
        choice, method = await selectors.choose(rule, request, Call(f"eval-{n}"))
        chosen_counts[choice.route] += 1
        label = by_label.setdefault(expected, {"count": 0, "correct": 0})
        label["count"] += 1
        if choice.reason is not None:
            defaults += 1
        if choice.route == expected:
            correct += 1
            label["correct"] += 1
        elif len(misses) < 20:
            misses.append({"prompt": prompt[:120], "expected": expected, "chosen": choice.route,
                           **({"similarity": round(choice.score, 4)} if choice.score is not None else {}),
                           **({"reason": choice.reason} if choice.reason else {})})
        tokens = router.estimated_tokens(request)
        quotes = {alias: router._cost_of(alias, tokens, output) for alias in {*targets, *([baseline] if baseline else [])}}
        unpriced.update(alias for alias, quote in quotes.items() if quote is None)
        priced = [alias for alias in targets if quotes[alias] is not None]
        strongest = baseline or max(priced, key=lambda alias: quotes[alias] or 0.0, default=None)
        if strongest is not None:
            baseline_cost += quotes[strongest] or 0.0
            cost += quotes.get(choice.route) or 0.0
    report: dict[str, Any] = {
        "rule": rule, "method": method, "prompts": len(labelled), "correct": correct,
        "accuracy": round(correct / len(labelled), 4), "by_label": by_label, "chosen": dict(chosen_counts),
        "defaults": defaults,
        "cost_usd": round(cost, 6), "strongest_cost_usd": round(baseline_cost, 6),
        "saved_usd": round(baseline_cost - cost, 6),
        "saved_share": round(1 - cost / baseline_cost, 4) if baseline_cost else None,
        "misrouted": misses,
    }
    if unpriced:
        report["unpriced"] = sorted(unpriced)
    return report
