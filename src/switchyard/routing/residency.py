"""Data residency: a caller pinned to regions is served only by deployments in them.

A static key's ``regions``, or the ``regions`` metadata of a virtual key, its team
and its tenant (each narrows the others), pin the caller (``Caller.regions``). For
such a caller the router keeps only the deployments whose ``region`` is one of
them (``within``) before anything else looks at the group — balancing, region
preference and failover, stickiness, the alias fallbacks (each fallback alias is
narrowed the same way) — so no path leads outside. A deployment without a region
is outside every pinned set.

When nothing inside can serve — no deployment of the alias is there, or every one
there failed — the answer is ``503 region_unavailable`` naming the regions
(``confined``), listing what was tried; never a try elsewhere.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.call import Call
from switchyard.core.errors import RegionUnavailable, SwitchyardError


def pinned(call: Call) -> frozenset[str] | None:
    """The regions the call's caller is pinned to, or None."""
    caller = call.caller
    return None if caller is None else getattr(caller, "regions", None)


def within(deployments: list[Any], regions: frozenset[str], alias: str) -> list[Any]:
    """The ``deployments`` whose region is one of ``regions``; ``RegionUnavailable`` when none is."""
    inside = [d for d in deployments if d.config.region in regions]
    if not inside:
        elsewhere = sorted({d.config.region or "none" for d in deployments})
        raise RegionUnavailable(f"No deployment of `{alias}` is in the regions this caller is pinned to "
                                f"({_names(regions)}); it has deployments in: {', '.join(elsewhere)}. Requests are "
                                f"never sent outside the pinned regions.")
    return inside


def confined(call: Call, error: SwitchyardError, alias: str) -> SwitchyardError:
    """For a pinned caller, a failure of the upstreams (5xx, 429) as ``region_unavailable``:
    what was tried inside the regions failed, and nothing outside is tried."""
    regions = pinned(call)
    if regions is None:
        return error
    tried = [(a.deployment, a.error) for a in call.attempts if isinstance(a.error, SwitchyardError)]
    if isinstance(error, RegionUnavailable):
        if not tried:
            return error  # nothing of the alias (or its fallbacks) is inside: its own message says so
    elif error.status < 500 and error.status != 429:
        return error  # the request itself was refused: not a question of where
    if not tried:
        tried = [(call.route.get("deployment") or alias, error)]
    detail = "; ".join(f"{name}: {e.status} {e.message}" for name, e in tried)
    return RegionUnavailable(f"Nothing within the regions this caller is pinned to ({_names(regions)}) could serve "
                             f"`{alias}` ({detail}). Requests are never sent outside the pinned regions.",
                             tried, retry_after=error.retry_after)


def _names(regions: frozenset[str]) -> str:
    return ", ".join(sorted(regions)) or "none"
