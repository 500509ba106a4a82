"""Quality feedback: a score in [0, 1] for a request the gateway answered, by its request id.

The SLO monitor remembers the most recent ``window`` requests (the id the
gateway returned in ``x-request-id``, the alias that served it, and whose key
asked), oldest forgotten first: a few hundred bytes each, bounded. ``POST
/v1/feedback`` scores one of them; a request scored again has its score
replaced. Scores are kept per alias — how many, their sum, so their mean —
and, with metrics on, every score given is observed into ``switchyard_feedback_score``.

Only the key that made a request may score it (a request of another key is
as unknown as a forgotten one); on a gateway without auth anyone may.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Remembered:
    alias: str
    #: The key that asked (its id, or its name for a static key); None without auth.
    owner: str | None
    score: float | None = None


@dataclass(slots=True)
class Scores:
    """The scores of one alias's answers: how many, and their sum (so their mean)."""

    count: int = 0
    total: float = 0.0

    def report(self) -> dict[str, Any]:
        return {"count": self.count, "mean": round(self.total / self.count, 6) if self.count else None}


def owner_of(caller: Any) -> str | None:
    """Whose a request is, for feedback: the caller's key id, else its name; None without auth."""
    if caller is None:
        return None
    return getattr(caller, "key_id", None) or getattr(caller, "name", None)


class Feedback:
    """Remembered requests and the scores per alias (see the module docstring)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._recent: OrderedDict[str, Remembered] = OrderedDict()
        self._scores: dict[str, Scores] = {}

    def remember(self, request_id: str, alias: str, owner: str | None) -> None:
        recent = self._recent
        recent[request_id] = Remembered(alias, owner)
        if len(recent) > self.window:
            recent.popitem(last=False)

    def score(self, request_id: str, score: float, owner: str | None) -> str | None:
        """Score a remembered request: its alias, or None when it is not known (or not the caller's).
        ``owner`` None: anyone's (the master key, a gateway without auth)."""
        found = self._recent.get(request_id)
        if found is None or (owner is not None and found.owner is not None and found.owner != owner):
            return None
        scores = self._scores.get(found.alias)
        if scores is None:
            scores = self._scores[found.alias] = Scores()
        if found.score is not None:
            scores.count -= 1
            scores.total -= found.score
        found.score = score
        scores.count += 1
        scores.total += score
        return found.alias

    def report(self) -> dict[str, Any]:
        return {alias: scores.report() for alias, scores in sorted(self._scores.items())}
