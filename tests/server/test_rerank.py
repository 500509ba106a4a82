"""``POST /v1/rerank``: documents ordered by relevance through the pipeline (routing, limits, budgets,
spend), on the fake provider and on Cohere's wire format (the mock upstream's ``/v2/rerank``); a
model that cannot rerank is refused naming the model; the components' ``reranker:alias`` uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import switchyard
from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.providers.conformance import KEY, mock_formats
from tests.server.raw_http import request

MASTER = "sk-master-rerank-0123456789"
BUDGETED = "sk-budgeted-rerank-01234567"
DOCUMENTS = ["the lunch menu of the week", "how to rotate your VPN password", "the password policy"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(api_key=KEY, formats=mock_formats()) as mock:
        yield mock


@pytest.fixture(scope="module")
def gateway(upstream: MockUpstreamThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = {
        "auth": {"master_key": MASTER,
                 "keys": [{"key": BUDGETED, "name": "ranker", "budget": {"amount": 100, "period": "monthly"}}]},
        "storage": {"url": f"sqlite:///{tmp_path_factory.mktemp('rerank') / 'gw.db'}"},
        "spend": {"records": True},
        "models": {
            "ranker": {"deployments": [{"provider": "fake", "model": "rerank", "price": {"input": 1.0, "output": 0}}]},
            "cohere-rerank": {"deployments": [{"provider": "cohere", "model": "rerank-v3.5", "base_url": upstream.url,
                                               "api_key": KEY}]},
            "chat-only": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                           "base_url": upstream.base_url, "api_key": KEY}]},
        },
    }
    with GatewayThread(config) as running:
        yield running


def _rerank(gateway: GatewayThread, body: dict[str, Any], key: str = MASTER) -> Any:
    return request(gateway.url, "POST", "/v1/rerank", orjson.dumps(body),
                   {"authorization": f"Bearer {key}", "content-type": "application/json"})


def test_documents_come_back_best_first_with_top_n_and_their_text(gateway):
    answer = _rerank(gateway, {"model": "ranker", "query": "rotate the VPN password", "documents": DOCUMENTS,
                               "top_n": 2, "return_documents": True}, key=BUDGETED)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert [r["index"] for r in body["results"]] == [1, 2]
    assert body["results"][0]["relevance_score"] > body["results"][1]["relevance_score"] > 0
    assert body["results"][0]["document"] == {"text": DOCUMENTS[1]}
    assert body["usage"]["prompt_tokens"] > 0
    assert float(answer.headers["x-switchyard-cost-usd"]) > 0  # priced, and charged to the key's budget
    spend = request(gateway.url, "GET", "/admin/spend?group_by=key",
                    headers={"authorization": f"Bearer {MASTER}"}).json()
    assert any(row["key"] == "ranker" and row["requests"] >= 1 and row["cost_usd"] > 0 for row in spend["data"])


def test_cohere_rerank_models_through_their_wire_format(gateway, upstream):
    answer = _rerank(gateway, {"model": "cohere-rerank", "query": "rotate the VPN password",
                               "documents": [{"text": d} for d in DOCUMENTS]})
    assert answer.status == 200, answer.body
    assert [r["index"] for r in answer.json()["results"]][0] == 1
    sent = orjson.loads(upstream.mock.requests[-1].body)
    assert upstream.mock.requests[-1].path == "/v2/rerank"
    assert sent == {"model": "rerank-v3.5", "query": "rotate the VPN password", "documents": DOCUMENTS}


def test_a_model_that_cannot_rerank_and_bad_input_are_named(gateway):
    refused = _rerank(gateway, {"model": "chat-only", "query": "q", "documents": ["d"]})
    assert refused.status == 400 and refused.json()["error"]["code"] == "capability_missing"
    assert "reranking" in refused.json()["error"]["message"] and refused.json()["error"]["param"] == "model"
    empty = _rerank(gateway, {"model": "ranker", "query": "q", "documents": []})
    assert empty.status == 400 and empty.json()["error"]["param"] == "documents"
    no_query = _rerank(gateway, {"model": "ranker", "documents": ["d"]})
    assert no_query.status == 400 and no_query.json()["error"]["param"] == "query"


async def test_the_alias_reranker_of_the_components_uses_it() -> None:
    from switchyard.components.protocols import Chunk, Hit, Reranker
    from switchyard.components.rerankers import AliasReranker

    hits = [Hit(Chunk(id=str(i), text=text, document=f"doc-{i}"), 1.0) for i, text in enumerate(DOCUMENTS)]
    async with switchyard.AsyncClient() as client:  # the embedded default: fake/rerank reranks
        reranker = AliasReranker(alias="fake/rerank", client=client, batch=2)
        assert isinstance(reranker, Reranker)
        best = await reranker.rerank("rotate the VPN password", hits, 2)
    assert [h.chunk.id for h in best] == ["1", "2"] and best[0].score > best[1].score


async def test_a_yaml_pipeline_names_the_alias_reranker(tmp_path) -> None:
    from switchyard.components.pipelines import RetrievalPipeline

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(DOCUMENTS):
        (docs / f"{i}.md").write_text(f"# Note {i}\n\n{text}\n")
    spec = {"embedder": {"use": "alias", "alias": "fake/echo"}, "index": {"use": "memory"},
            "ingest": {"loader": {"use": "directory", "include": ["*.md"]}, "splitter": {"use": "markdown"}},
            "retrievers": {"words": {"use": "bm25"}},
            "query": {"retriever": "words", "reranker": {"use": "alias", "alias": "fake/rerank"}}}
    async with RetrievalPipeline.load(spec) as pipeline:
        assert type(pipeline.reranker).__name__ == "AliasReranker"
        await pipeline.ingest(str(docs))
        best = await pipeline.retrieve("rotate the VPN password", k=1)
    assert "rotate your VPN password" in best[0].chunk.text


def test_the_guard_sees_a_rerank_requests_query_and_documents():
    config = {"guard": {"default": "pii", "policies": {"pii": {"action": "mask", "actions": {"aws_access_key": "block"}}}},
              "models": {"ranker": {"deployments": [{"provider": "fake", "model": "rerank"}]}}}
    with GatewayThread(config) as gateway:
        masked = request(gateway.url, "POST", "/v1/rerank", orjson.dumps({
            "model": "ranker", "query": "mail jane@example.com", "return_documents": True,
            "documents": ["write to jane@example.com", {"text": "nothing here"}]}), {"content-type": "application/json"})
        blocked = request(gateway.url, "POST", "/v1/rerank", orjson.dumps({
            "model": "ranker", "query": "q", "documents": [{"text": "key AKIAIOSFODNN7EXAMPLE"}]}),
            {"content-type": "application/json"})
    assert masked.status == 200, masked.body
    texts = [r["document"]["text"] for r in masked.json()["results"]]
    assert "write to [EMAIL_1]" in texts and "jane@example.com" not in masked.body.decode()  # the upstream saw none
    assert blocked.status == 400 and blocked.json()["error"]["param"] == "documents.0.text"
