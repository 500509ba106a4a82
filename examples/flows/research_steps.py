"""The research example's own steps: ``retrieve`` over a tiny in-memory index, and ``verdict``.

``retrieve`` stands in for the components' retriever (issue 17): a flow names the step
``retrieve`` and this example registers it (``register:`` in research.yaml); a package that
provides a real index registers its own ``retrieve`` in the ``switchyard.flow_steps``
entry-point group, and the flow stays the same.
"""

from __future__ import annotations

import re

#: The index: a handful of passages, scored by the words they share with the query.
PASSAGES = (
    "Rivers carry sediment from mountains to the sea and build deltas at their mouths.",
    "A delta forms where a river slows down and drops the sand and silt it carries.",
    "Tides and waves reshape deltas, moving sediment along the coast.",
    "Dams trap sediment upstream, so deltas downstream shrink and sink.",
    "Mangroves and marshes hold delta soils together with their roots.",
    "Glaciers grind rock into fine flour that rivers carry away as silt.",
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def retrieve(query: str, k: int = 2) -> list[str]:
    """The ``k`` passages sharing the most words with ``query`` (ties: the index's order)."""
    wanted = _words(query)
    scored = sorted(range(len(PASSAGES)), key=lambda i: (-len(wanted & _words(PASSAGES[i])), i))
    return [PASSAGES[i] for i in scored[:k] if wanted & _words(PASSAGES[i])]


def verdict(critique: str, round: int, approve_at: int) -> str:
    """APPROVED when the critic says so — or, on the fake provider (which echoes), at round
    ``approve_at``, so the loop runs a known number of times."""
    return "APPROVED" if "APPROVED" in critique or round + 1 >= approve_at else "REVISE"
