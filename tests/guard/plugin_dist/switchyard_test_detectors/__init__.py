"""Guard detectors for the tests, found through the ``switchyard.detectors`` entry points."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any


class Names:
    """Finds the configured names (a stand-in for an NER detector such as Presidio's)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.pattern = re.compile("|".join(re.escape(n) for n in options["names"]))

    async def detect(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [[(m.start(), m.end(), "person") for m in self.pattern.finditer(t)] for t in texts]


class Failing:
    """A detector whose backend is down."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    async def detect(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        raise ConnectionError("the analyzer service is down")


class Slow:
    """A detector that takes ``seconds`` to answer."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.seconds = float(options.get("seconds", 10))
        self.closed = False

    async def detect(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        await asyncio.sleep(self.seconds)
        return [[] for _ in texts]

    async def aclose(self) -> None:
        self.closed = True
