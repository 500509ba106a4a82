"""The index: bounded (least recently used out), expiring, purged by partition and alias."""

from __future__ import annotations

import numpy as np

from switchyard.cache.semantic.index import SemanticIndex


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
    return v / np.linalg.norm(v)


def add(index: SemanticIndex, entry_id: str, key: tuple[str, str, str], seed: int, *, now: float = 0.0,
        ttl: float = 100.0) -> list[str]:
    return index.add(entry_id, key, vector(seed), created=now, expires=now + ttl, preview=entry_id, now=now)


A = ("tenant:a", "chat", "ctx")
B = ("tenant:b", "chat", "ctx")


def test_lookups_see_only_their_own_bucket() -> None:
    index = SemanticIndex(10)
    add(index, "a1", A, 1)
    assert index.nearest(B, vector(1), 0.0) is None  # the same vector, another tenant: nothing
    found = index.nearest(A, vector(1), 0.0)
    assert found is not None and found[0] == "a1"


def test_past_the_bound_the_least_recently_used_goes() -> None:
    index = SemanticIndex(3)
    for i in range(3):
        add(index, f"e{i}", A, i)
    index.touch("e0")  # a hit: e0 is now the most recent
    assert add(index, "e3", A, 3) == ["e1"]
    assert len(index) == 3 and "e1" not in index and "e0" in index


def test_expired_entries_are_never_found_and_are_swept() -> None:
    index = SemanticIndex(10)
    add(index, "short", A, 1, ttl=5)
    add(index, "long", A, 2, ttl=50)
    assert index.nearest(A, vector(1), 4.0) is not None
    found = index.nearest(A, vector(1), 6.0)
    assert found is not None and found[0] == "long"
    assert "short" not in index and len(index) == 1
    assert add(index, "late", A, 3, now=60.0) == ["long"]


def test_purge_by_partition_or_by_partition_and_alias() -> None:
    index = SemanticIndex(10)
    add(index, "a-chat", A, 1)
    add(index, "a-code", ("tenant:a", "code", "ctx"), 2)
    add(index, "b-chat", B, 3)
    assert index.purge("tenant:a", "code") == ["a-code"]
    assert sorted(index.purge("tenant:a")) == ["a-chat"]
    assert [i for i, _ in index.entries()] == ["b-chat"]
    assert index.summary() == [{"partition": "tenant:b", "alias": "chat", "entries": 1, "contexts": 1, "hits": 0}]


def test_vectors_of_another_size_replace_the_bucket() -> None:
    dropped: list[str] = []
    index = SemanticIndex(10, on_drop=dropped.extend)
    add(index, "old", A, 1)
    index.add("new", A, np.ones(8, dtype=np.float32) / np.sqrt(8), created=0.0, expires=100.0, preview="", now=0.0)
    assert dropped == ["old"] and len(index) == 1
    assert index.nearest(A, vector(1), 0.0) is None  # a 16-dimension query in an 8-dimension bucket
