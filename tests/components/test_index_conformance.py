"""One suite over every index backend: add, replace, search, filters, namespaces, deletion, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from switchyard.components.index_sql import SqlIndex
from switchyard.components.protocols import Chunk, Index
from switchyard.core.errors import InvalidRequest

DIM = 16


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def chunks(n: int, source: str = "a.md", **meta: Any) -> list[Chunk]:
    return [Chunk(id=f"{source}#{i}", text=f"text {i} of {source}", document=source,
                  metadata={"source": source, "n": i, **meta}) for i in range(n)]


async def test_it_is_an_index_and_finds_each_vector_itself(index: Any) -> None:
    assert isinstance(index, Index)
    items, matrix = chunks(40), vectors(40)
    await index.add(items, matrix)
    for i in (0, 17, 39):
        hits = await index.search(matrix[i], 3)
        assert hits[0].chunk.id == f"a.md#{i}"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].chunk.metadata == {"source": "a.md", "n": i}
        assert hits[0].chunk.text == f"text {i} of a.md"
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(await index.search(matrix[0], 100)) == 40


async def test_the_ranking_is_by_cosine(index: Any) -> None:
    items, matrix = chunks(30), vectors(30, seed=1)
    await index.add(items, matrix)
    query = vectors(1, seed=99)[0]
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ (query / np.linalg.norm(query))))[:5]
    hits = await index.search(query, 5)
    assert [h.chunk.id for h in hits] == [f"a.md#{i}" for i in expected]


async def test_adding_an_id_again_replaces_it(index: Any) -> None:
    matrix = vectors(3)
    await index.add(chunks(3), matrix)
    before = await index.version()
    moved = Chunk(id="a.md#0", text="new text", document="a.md", metadata={"source": "a.md", "n": 0})
    await index.add([moved], matrix[2:3] * -1)
    assert await index.version() != before
    held = {c.id: c for c in await index.chunks()}
    assert len(held) == 3 and held["a.md#0"].text == "new text"
    assert (await index.search(matrix[2] * -1, 1))[0].chunk.text == "new text"
    assert (await index.search(matrix[0], 3))[0].chunk.id != "a.md#0" or \
        (await index.search(matrix[0], 3))[0].score < 0.99


async def test_namespaces_never_see_each_other(index: Any) -> None:
    matrix = vectors(10)
    await index.add(chunks(10, source="acme.md"), matrix, namespace="acme")
    await index.add(chunks(10, source="globex.md"), matrix, namespace="globex")
    for tenant in ("acme", "globex"):
        hits = await index.search(matrix[3], 10, namespace=tenant)
        assert len(hits) == 10 and {h.chunk.metadata["source"] for h in hits} == {f"{tenant}.md"}
        assert {c.document for c in await index.chunks(namespace=tenant)} == {f"{tenant}.md"}
    assert await index.search(matrix[3], 5, namespace="nobody") == []
    assert await index.delete(where={"source": "acme.md"}, namespace="globex") == 0
    assert len(await index.chunks(namespace="acme")) == 10


async def test_metadata_filters(index: Any) -> None:
    matrix = vectors(30)
    items = [Chunk(id=f"c{i}", text=str(i), document=f"d{i % 3}", metadata={"source": f"d{i % 3}", "lang": "en" if i % 2 else "fr"})
             for i in range(30)]
    await index.add(items, matrix)
    hits = await index.search(matrix[4], 5, where={"source": "d1"})
    assert len(hits) == 5 and all(h.chunk.metadata["source"] == "d1" for h in hits)
    hits = await index.search(matrix[4], 30, where={"source": ["d0", "d2"], "lang": "fr"})
    assert {h.chunk.id for h in hits} == {f"c{i}" for i in range(30) if i % 3 != 1 and i % 2 == 0}
    assert await index.search(matrix[4], 5, where={"source": "none"}) == []


async def test_deletion_by_id_and_by_filter(index: Any) -> None:
    matrix = vectors(20)
    await index.add(chunks(10, source="a.md") + chunks(10, source="b.md"), matrix)
    assert await index.delete(ids=["a.md#0", "a.md#1", "missing"]) == 2
    found = {h.chunk.id for h in await index.search(matrix[0], 20)}
    assert "a.md#0" not in found and "a.md#1" not in found and len(found) == 18
    assert await index.delete(where={"source": "b.md"}) == 10
    assert {c.document for c in await index.chunks()} == {"a.md"}
    assert len(await index.search(matrix[15], 20)) == 8
    assert await index.delete(ids=["a.md#0"]) == 0


async def test_bad_input_is_refused_whole(index: Any) -> None:
    await index.add(chunks(2), vectors(2))
    with pytest.raises(InvalidRequest) as caught:
        await index.add(chunks(3, source="c.md"), vectors(2))
    assert caught.value.param == "vectors"
    with pytest.raises(InvalidRequest) as caught:
        await index.search(vectors(1)[0], 0)
    assert caught.value.param == "k"
    with pytest.raises(InvalidRequest) as caught:
        await index.delete()
    assert caught.value.param == "ids"
    with pytest.raises(InvalidRequest):
        await index.search(np.ones(DIM + 3, dtype=np.float32), 3)
    assert {c.document for c in await index.chunks()} == {"a.md"}


async def test_the_sql_index_is_shared_by_processes(index_factory: Any) -> None:
    """Two instances on one table stand for two processes: each sees the other's adds and deletes."""
    for backend in ("sql-sqlite", "sql-postgres"):
        one: SqlIndex = index_factory(backend)
        other = one.sharing()
        try:
            matrix = vectors(6000 if backend == "sql-postgres" else 50)  # more than a page of changes
            n = len(matrix)
            await one.add(chunks(n), matrix, namespace="t")
            assert (await other.search(matrix[5], 1, namespace="t"))[0].chunk.id == "a.md#5"
            assert len(await other.chunks(namespace="t")) == n
            await other.delete(ids=["a.md#5"], namespace="t")
            assert (await one.search(matrix[5], 1, namespace="t"))[0].chunk.id != "a.md#5"
            assert await one.version(namespace="t") == await other.version(namespace="t")
        finally:
            await one.aclose()
            await other.aclose()



async def test_the_sql_index_replaces_a_file_in_one_transaction(index_factory: Any) -> None:
    index: SqlIndex = index_factory("sql-sqlite")
    reader = index.sharing()
    try:
        await index.add(chunks(3, source="f.md") + chunks(2, source="g.md"), vectors(5))
        assert await index.replace({"source": "f.md"}, chunks(1, source="f.md"), vectors(1, seed=5)) == 3
        held = sorted(c.id for c in await reader.chunks())
        assert held == ["f.md#0", "g.md#0", "g.md#1"]
        with pytest.raises(InvalidRequest):  # a bad replacement leaves the old chunks
            await index.replace({"source": "g.md"}, chunks(2, source="g.md"), vectors(1))
        assert sorted(c.id for c in await reader.chunks()) == held
    finally:
        await index.aclose()
        await reader.aclose()


async def test_processes_opening_a_new_table_at_once(index_factory: Any) -> None:
    import asyncio

    first: SqlIndex = index_factory("sql-postgres")
    others = [first.sharing() for _ in range(3)]
    try:
        await asyncio.gather(*(i.version() for i in [first, *others]))  # each creates the tables if missing
        await first.add(chunks(2), vectors(2))
        assert all([len(await i.chunks()) == 2 for i in others])
    finally:
        for i in [first, *others]:
            await i.aclose()
