"""Per-tool rate limits, counted by the admission backend (``limits:``'s: this process's
sliding window, or Redis shared by every replica): no limiter of its own."""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from typing import Any

from switchyard.core.config.mcp import ToolLimit
from switchyard.mcp.refusals import ToolRefused
from switchyard.storage.limits.gcra import Bucket


class ToolLimits:
    """``check(caller, tool)`` takes one unit from every limit matching the tool, or raises."""

    def __init__(self, rules: list[ToolLimit], backend: Any) -> None:
        self.rules = rules
        self.backend = backend

    def buckets(self, caller: Any, tool: str) -> list[tuple[ToolLimit, Bucket]]:
        out = []
        for rule in self.rules:
            if fnmatchcase(tool, rule.tool):
                subject = "*" if rule.per == "global" else (getattr(caller, "key_id", None) or caller.name)
                out.append((rule, Bucket(f"mcp:{rule.tool}:{subject}", "tool", subject, "rpm", rule.rpm, 60.0)))
        return out

    async def check(self, caller: Any, tool: str) -> None:
        matched = self.buckets(caller, tool)
        if not matched:
            return
        buckets = [bucket for _, bucket in matched]
        decision = await self.backend.acquire(buckets, [1.0] * len(buckets))
        if not decision.allowed:
            rule, bucket = matched[decision.refused]
            wait = math.ceil(decision.retry_after if math.isfinite(decision.retry_after) else bucket.period)
            raise ToolRefused("rate_limited", f"`{tool}` may be called {rule.rpm} times a minute "
                              f"({'per key' if rule.per == 'key' else 'in all'}, rate_limits `{rule.tool}`); "
                              f"retry after {wait} s.", retry_after=wait)
