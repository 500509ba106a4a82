"""The numpy forward pass of all-MiniLM-L6-v2 against sentence-transformers' published figures."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from switchyard.cache.semantic.embedder import EmbedderBusy
from switchyard.cache.semantic.minilm import MAX_TOKENS, MiniLM, MiniLMEmbedder


def test_it_reproduces_the_similarities_sentence_transformers_publishes(minilm: MiniLM) -> None:
    # sbert.net's quickstart for all-MiniLM-L6-v2: [[1, 0.6660, 0.1046], [0.6660, 1, 0.1411], ...]
    vectors = np.array(minilm.encode(["The weather is lovely today.", "It's so sunny outside!",
                                      "He drove to the stadium."]))
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32


def test_a_batch_pads_without_changing_any_vector(minilm: MiniLM) -> None:
    texts = ["hi", "What is the capital of France, and how many people live there today?"]
    alone = [minilm.encode([t])[0] for t in texts]
    together = minilm.encode(texts)
    for a, b in zip(alone, together):
        assert a is not None and b is not None
        assert np.allclose(a, b, atol=1e-5)


def test_a_text_longer_than_the_model_reads_is_not_embedded(minilm: MiniLM) -> None:
    long, fits = "word " * (MAX_TOKENS + 10), "word " * (MAX_TOKENS - 10)
    assert minilm.encode([long, fits])[0] is None
    assert minilm.encode([long, fits])[1] is not None


def test_load_time_is_recorded(minilm: MiniLM) -> None:
    assert minilm.load_seconds is not None and 0 < minilm.load_seconds < 30


async def test_the_embedder_runs_off_the_event_loop_and_batches_what_waits(minilm: MiniLM) -> None:
    calls: list[int] = []
    real = minilm.encode

    def counted(texts: list[str]) -> list[np.ndarray | None]:
        calls.append(len(texts))
        return real(texts)

    embedder = MiniLMEmbedder(model=minilm, max_batch=16)
    embedder._batcher.encode = counted
    try:
        results = await asyncio.gather(*(embedder.embed([f"question number {i}"]) for i in range(10)))
    finally:
        await embedder.aclose()
    assert all(r[0] is not None for r in results)
    assert sum(calls) == 10 and len(calls) < 10  # those that waited went together


async def test_a_full_queue_refuses_at_once(minilm: MiniLM) -> None:
    embedder = MiniLMEmbedder(model=minilm, max_pending=2)
    try:
        first = asyncio.ensure_future(embedder.embed(["one", "two"]))
        await asyncio.sleep(0)  # the first two texts now wait for the worker
        with pytest.raises(EmbedderBusy):
            await embedder.embed(["three"])
        assert len(await first) == 2
    finally:
        await embedder.aclose()
