"""Region preference: the order in which regions are tried for a request.

The preferred region is, first match wins: the caller's ``x-switchyard-region``
header, the alias's ``region`` (``models.<alias>.region``), the gateway's
``reliability.region``. Candidates in that region come first, then those of the
other regions in ``reliability.region_order``, then the rest, each group in the
balancer's order. The router hands over only available deployments, so when a
whole region is open or unhealthy its deployments are simply absent and traffic
moves to the next region — and back as soon as the region is available again.
"""

from __future__ import annotations

from switchyard.core.call import Call
from switchyard.core.config import Config
from switchyard.routing.catalog import Deployment

REGION_HEADER = "x-switchyard-region"


class RegionPreference:
    """Region settings, read once from the config."""

    __slots__ = ("default", "order", "by_alias", "_wildcards")

    def __init__(self, default: str | None = None, order: list[str] | None = None,
                 by_alias: dict[str, str] | None = None) -> None:
        self.default = default
        self.order = list(order or [])
        by_alias = dict(by_alias or {})
        self._wildcards = sorted(((a[:-1], r) for a, r in by_alias.items() if a.endswith("/*")), key=lambda i: -len(i[0]))
        self.by_alias = {a: r for a, r in by_alias.items() if not a.endswith("/*")}

    @classmethod
    def from_config(cls, config: Config) -> RegionPreference:
        reliability = config.reliability
        by_alias = {alias: m.region for alias, m in config.models.items() if m.region}
        return cls(reliability.region, reliability.region_order, by_alias)

    def preferred(self, alias: str, call: Call) -> str | None:
        region = call.headers.get(REGION_HEADER) if call.headers else None
        if region:
            return region
        region = self.by_alias.get(alias)
        if region is not None:
            return region
        for prefix, wildcard_region in self._wildcards:
            if alias.startswith(prefix):
                return wildcard_region
        return self.default

    def rank(self, preferred: str | None) -> dict[str | None, int]:
        ranks: dict[str | None, int] = {}
        if preferred is not None:
            ranks[preferred] = 0
        for region in self.order:
            ranks.setdefault(region, len(ranks))
        return ranks


def order_by_region(candidates: list[Deployment], call: Call, settings: RegionPreference | None = None) -> list[Deployment]:
    """Candidates reordered so the preferred region comes first, then the
    configured order; stable within a region. Identity when nothing is set."""
    if settings is None or len(candidates) < 2:
        return candidates
    preferred = settings.preferred(candidates[0].alias, call)
    if preferred is None and not settings.order:
        return candidates
    ranks = settings.rank(preferred)
    last = len(ranks)
    return sorted(candidates, key=lambda d: ranks.get(d.region, last))
