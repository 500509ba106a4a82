"""Region preference: the order in which regions are tried for a request."""

from __future__ import annotations

from typing import Any

from switchyard.core.call import Call
from switchyard.routing.catalog import Deployment


def order_by_region(candidates: list[Deployment], call: Call, settings: Any = None) -> list[Deployment]:
    """Candidates reordered so the preferred region comes first (identity for now)."""
    return candidates
