"""The offline model, loaded once per session (a fraction of a second, ~90 MB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchyard.cache.semantic.minilm import MiniLM

CORPUS: dict[str, Any] = json.loads((Path(__file__).parent / "paraphrases.json").read_text())


@pytest.fixture(scope="session")
def minilm() -> MiniLM:
    model = MiniLM()
    model.load()
    return model


class Clock:
    """Unix seconds the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
