"""One context's vectors: the prefiltered search finds what a full scan finds."""

from __future__ import annotations

import numpy as np

from switchyard.cache.semantic.bucket import EXACT_ROWS, Bucket


def unit_rows(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(rng: np.random.Generator, vector: np.ndarray, noise: float) -> np.ndarray:
    out = vector + noise * rng.standard_normal(vector.shape).astype(np.float32)
    return (out / np.linalg.norm(out)).astype(np.float32)


def test_nearest_add_replace_remove() -> None:
    rng = np.random.default_rng(7)
    rows = unit_rows(rng, 3)
    bucket = Bucket(384)
    assert bucket.nearest(rows[0]) is None
    for i, row in enumerate(rows):
        bucket.add(f"e{i}", row)
    found = bucket.nearest(rows[1])
    assert found is not None and found[0] == "e1" and abs(found[1] - 1.0) < 1e-3
    bucket.add("e1", rows[2])  # replaced: e1 now holds row 2's vector
    assert len(bucket) == 3
    assert bucket.remove("e2") and not bucket.remove("e2")
    found = bucket.nearest(rows[2])
    assert found is not None and found[0] == "e1"


def test_the_prefilter_finds_the_exact_nearest_in_a_large_bucket() -> None:
    rng = np.random.default_rng(11)
    n = EXACT_ROWS * 5
    rows = unit_rows(rng, n)
    bucket = Bucket(384)
    for i, row in enumerate(rows):
        bucket.add(str(i), row)
    for target in rng.integers(0, n, 100):
        query = near(rng, rows[target], 0.03)  # cosine about 0.85 to its source
        full = rows @ query
        found = bucket.nearest(query)
        assert found is not None
        assert found[0] == str(int(np.argmax(full)))
        assert abs(found[1] - float(full.max())) < 2e-3  # stored as float16


def test_removing_moves_the_last_row_and_shrinks_the_bucket() -> None:
    rng = np.random.default_rng(3)
    rows = unit_rows(rng, 200, dim=64)
    bucket = Bucket(64)
    for i, row in enumerate(rows):
        bucket.add(str(i), row)
    capacity = bucket.vectors.shape[0]
    for i in range(150):
        assert bucket.remove(str(i))
    assert len(bucket) == 50 and bucket.vectors.shape[0] < capacity
    for i in range(150, 200):
        found = bucket.nearest(rows[i])
        assert found is not None and found[0] == str(i)
