"""Every index backend behind one fixture, so one suite runs over all of them; the offline model once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from switchyard.components.index_memory import ExactIndex
from switchyard.components.index_sql import SqlIndex
from switchyard.components.index_usearch import UsearchIndex

CORPUS = Path(__file__).parent / "corpus"
BACKENDS = ["memory", "usearch", "sql-sqlite", "sql-postgres"]


def make_index(backend: str, tmp_path: Path, request: pytest.FixtureRequest, table: str | None = None) -> Any:
    if backend == "memory":
        return ExactIndex()
    if backend == "usearch":
        return UsearchIndex()
    name = table or f"chunks_{uuid.uuid4().hex[:8]}"
    if backend == "sql-sqlite":
        return SqlIndex(url=f"sqlite:///{tmp_path / 'index.db'}", table=name)
    return SqlIndex(url=request.getfixturevalue("postgres_url"), table=name)


@pytest.fixture(params=BACKENDS)
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    built = make_index(request.param, tmp_path, request)
    yield built
    await built.aclose()


@pytest.fixture
def index_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Any]:
    return lambda backend: make_index(backend, tmp_path, request)


@pytest.fixture(scope="session")
def minilm_model() -> Any:
    from switchyard.cache.semantic.minilm import MiniLM

    model = MiniLM(truncate=True)
    model.load()
    return model
