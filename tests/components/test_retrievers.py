"""Retrievers over one small corpus: vector (offline model), BM25, hybrid fusion; the embedders; the reranker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import switchyard
from switchyard.components.bm25 import BM25Retriever
from switchyard.components.embedders import AliasEmbedder, MiniLMEmbedder
from switchyard.components.index_memory import ExactIndex
from switchyard.components.protocols import Chunk, Embedder, Hit, Reranker, Retriever
from switchyard.components.rerankers import LLMReranker, prompt, scores_of
from switchyard.components.retrievers import HybridRetriever, VectorRetriever, fuse
from switchyard.core.errors import InvalidRequest

TEXTS = {
    "kettle": "Boil the water in a kettle before pouring it over the tea leaves.",
    "e1042": "Error E1042 on the X200 printer means the fuser overheated.",
    "bike": "Lubricate the bicycle chain after riding in the rain.",
    "sleep": "Keep the bedroom cool and dark to fall asleep sooner.",
}


@pytest.fixture
async def corpus(minilm_model: Any) -> Any:
    embedder = MiniLMEmbedder(model=minilm_model)
    index = ExactIndex()
    chunks = [Chunk(id=k, text=t, document=k, metadata={"source": f"{k}.md", "kind": "printer" if k == "e1042" else "home"})
              for k, t in TEXTS.items()]
    await index.add(chunks, await embedder.embed([c.text for c in chunks]), namespace="t")
    yield embedder, index
    await embedder.aclose()


async def test_the_vector_retriever_finds_paraphrases(corpus: Any) -> None:
    embedder, index = corpus
    assert isinstance(embedder, Embedder)
    retriever = VectorRetriever(embedder=embedder, index=index)
    assert isinstance(retriever, Retriever)
    hits = await retriever.retrieve("how do I nod off faster at night", 2, namespace="t")
    assert hits[0].chunk.id == "sleep"
    hits = await retriever.retrieve("maintaining my bike", 4, namespace="t", where={"kind": "home"})
    assert hits[0].chunk.id == "bike" and "e1042" not in {h.chunk.id for h in hits}
    assert await retriever.retrieve("anything", 3, namespace="other") == []


async def test_bm25_finds_exact_terms_and_follows_the_index(corpus: Any) -> None:
    embedder, index = corpus
    bm25 = BM25Retriever(index=index)
    hits = await bm25.retrieve("E1042", 3, namespace="t")
    assert [h.chunk.id for h in hits] == ["e1042"]  # only chunks that hold a query word score
    assert await bm25.retrieve("the of and", 3, namespace="t") == []  # stop words only
    assert await bm25.retrieve("E1042", 3, namespace="t", where={"kind": "home"}) == []
    await index.delete(ids=["e1042"], namespace="t")
    assert await bm25.retrieve("E1042", 3, namespace="t") == []  # a new version of the index: rebuilt
    extra = Chunk(id="new", text="E1042 again, in a new note", document="new", metadata={})
    await index.add([extra], await embedder.embed([extra.text]), namespace="t")
    assert [h.chunk.id for h in await bm25.retrieve("E1042", 3, namespace="t")] == ["new"]


async def test_hybrid_fuses_by_reciprocal_rank(corpus: Any) -> None:
    embedder, index = corpus
    hybrid = HybridRetriever(retrievers=[VectorRetriever(embedder=embedder, index=index), BM25Retriever(index=index)])
    hits = await hybrid.retrieve("printer error E1042", 2, namespace="t")
    assert hits[0].chunk.id == "e1042" and hits[0].score == pytest.approx(2 / 61)
    a, b, c = (Chunk(id=x, text=x, document=x) for x in "abc")
    fused = fuse([[Hit(a, 0.9), Hit(b, 0.8)], [Hit(b, 12.0), Hit(c, 3.0)]], [1.0, 1.0], c=60)
    assert [h.chunk.id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    with pytest.raises(InvalidRequest) as caught:
        HybridRetriever(retrievers=[hybrid])
    assert caught.value.param == "retrievers"


async def test_the_alias_embedder_goes_through_the_gateway() -> None:
    config = {"models": {"vectors": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    async with switchyard.AsyncClient(config) as client:
        embedder = AliasEmbedder(alias="vectors", client=client, batch=3, dimensions=16)
        matrix = await embedder.embed([f"text {i}" for i in range(7)])
        assert matrix.shape == (7, 16) and np.allclose(np.linalg.norm(matrix, axis=1), 1.0)
        again = await embedder.embed(["text 3"])
        assert np.allclose(again[0], matrix[3])  # the fake embeds deterministically
        with pytest.raises(switchyard.SwitchyardError):
            await AliasEmbedder(alias="no-such-alias", client=client).embed(["x"])


async def test_the_llm_reranker_through_the_fake_rerank_model() -> None:
    hits = [Hit(Chunk(id=str(i), text=t, document=str(i)), 1.0 - i / 10) for i, t in enumerate(
        ["the kettle boils water", "printer fuser error codes", "tea leaves and boiling water for tea"])]
    async with switchyard.AsyncClient() as client:
        reranker = LLMReranker(alias="fake/rerank", client=client, batch=2)
        assert isinstance(reranker, Reranker)
        best = await reranker.rerank("boiling water for tea", hits, 2)
        assert [h.chunk.id for h in best] == ["2", "0"]
        assert best[0].score == pytest.approx(10.0) and reranker.failures == 0
        unread = LLMReranker(alias="fake/echo", client=client)  # echoes the prompt: no scores in it
        kept = await unread.rerank("boiling water", hits, 3)
        assert [h.chunk.id for h in kept] == ["0", "1", "2"] and unread.failures == 1


def test_the_reranking_prompt_and_its_answer() -> None:
    text = prompt("a  query\nwith lines", ["one\npassage", "two"])
    assert "Query: a query with lines" in text and "[1] one passage" in text and "[2] two" in text
    assert scores_of('sure: {"scores": [3, 7.5]}', 2) == [3.0, 7.5]
    assert scores_of('{"scores": [3]}', 2) is None
    assert scores_of('{"scores": [true, 1]}', 2) is None
    assert scores_of("no json", 1) is None
