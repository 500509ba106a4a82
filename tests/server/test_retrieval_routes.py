"""POST /v1/retrieve on a real gateway, called with the official openai SDK: hits and answers from a
pipeline's shared SQLite index, tenant keys confined to their namespace, bad input named, and no
route at all without ``retrieval:``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from switchyard.components.pipelines import RetrievalPipeline

MODELS = {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]},
          "rerank": {"deployments": [{"provider": "fake", "model": "rerank"}]}}
DOCS = {
    "acme": {"vpn.md": "# VPN\n\nRotate the VPN password every ninety days.",
             "desk.md": "# Desks\n\nHot desks are booked in the lobby app."},
    "globex": {"secret.md": "# Launch\n\nThe globex launch code is orange-falcon."},
}


def in_thread(work: Any) -> Any:
    """``asyncio.run(work())`` off the test's loop (the gateway runs its own)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(work())))
    thread.start()
    thread.join()
    return out[0]


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    spec = {"name": "handbook", "namespace": "acme",
            "embedder": {"use": "minilm"}, "index": {"use": "sql", "url": f"sqlite:///{tmp_path / 'index.db'}"},
            "ingest": {"loader": {"use": "directory"}, "splitter": {"use": "markdown", "size": 100}},
            "retrievers": {"dense": {"use": "vector"}, "words": {"use": "bm25"},
                           "both": {"use": "hybrid", "retrievers": ["dense", "words"]}},
            "query": {"retriever": "both", "k": 2, "reranker": {"use": "llm", "alias": "rerank"},
                      "answer": {"alias": "chat", "k": 1}}}
    path = tmp_path / "handbook.yaml"
    path.write_text(yaml.safe_dump(spec))

    async def ingest() -> None:
        async with RetrievalPipeline.load(path, client=object()) as pipeline:  # ingestion makes no model call
            for tenant, files in DOCS.items():
                folder = tmp_path / tenant
                folder.mkdir()
                for name, text in files.items():
                    (folder / name).write_text(text)
                await pipeline.ingest(str(folder), namespace=tenant)

    in_thread(ingest)
    return path


def test_retrieve_and_ask_over_http(start_gateway: Any, pipeline_file: Path) -> None:
    gateway = start_gateway({
        "models": MODELS,
        "auth": {"master_key": "sk-master", "keys": [
            {"key": "sk-acme", "name": "acme-app", "tenant": "acme"},
            {"key": "sk-globex", "name": "globex-app", "tenant": "globex"}]},
        "retrieval": {"pipelines": {"handbook": str(pipeline_file)}},
    })
    acme = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-acme", max_retries=0)
    found = acme.post("/retrieve", body={"query": "how often do I change the VPN password"}, cast_to=object)
    assert found["object"] == "list" and found["namespace"] == "acme"
    assert found["data"][0]["id"] == "vpn.md#0" and found["data"][0]["metadata"]["heading"] == "VPN"
    assert {hit["document"] for hit in found["data"]} <= {"vpn.md", "desk.md"}

    answer = acme.post("/retrieve", body={"pipeline": "handbook", "query": "VPN password rotation", "answer": True},
                       cast_to=object)
    assert answer["object"] == "retrieval.answer"
    assert [c["id"] for c in answer["citations"]] == ["vpn.md#0"]
    assert "ninety days" in answer["answer"]  # fake/echo returns the prompt, sources included

    # a tenant's key searches its tenant's namespace only
    globex = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-globex", max_retries=0)
    theirs = globex.post("/retrieve", body={"query": "launch code", "rerank": False}, cast_to=object)
    assert [h["document"] for h in theirs["data"]] == ["secret.md"]
    leaked = acme.post("/retrieve", body={"query": "globex launch code orange-falcon"}, cast_to=object)
    assert all(h["document"] != "secret.md" for h in leaked["data"])
    with pytest.raises(openai.PermissionDeniedError):
        acme.post("/retrieve", body={"query": "launch", "namespace": "globex"}, cast_to=object)
    master = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-master", max_retries=0)
    chosen = master.post("/retrieve", body={"query": "launch code", "namespace": "globex", "k": 1}, cast_to=object)
    assert chosen["data"][0]["document"] == "secret.md"

    for body, param in (({"query": ""}, "query"), ({"query": "x", "k": 0}, "k"), ({"query": "x", "where": [1]}, "where"),
                        ({"query": "x", "colour": 1}, "colour"), ({"query": "x", "answer": "yes"}, "answer")):
        with pytest.raises(openai.BadRequestError) as caught:
            acme.post("/retrieve", body=body, cast_to=object)
        assert caught.value.body["param"] == param  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        acme.post("/retrieve", body={"query": "x", "pipeline": "nope"}, cast_to=object)
    assert caught.value.body["param"] == "pipeline"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-wrong", max_retries=0).post(
            "/retrieve", body={"query": "x"}, cast_to=object)


def test_no_route_without_retrieval(start_gateway: Any) -> None:
    gateway = start_gateway({"models": MODELS})
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.post("/retrieve", body={"query": "x"}, cast_to=object)


def test_a_pipeline_that_cannot_be_built_is_a_503_naming_why(start_gateway: Any, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("embedder: {use: minilm}\nindex: {use: faiss}\n")
    gateway = start_gateway({"models": MODELS, "retrieval": {"pipelines": {"broken": str(tmp_path / "broken.yaml")}}})
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.post("/retrieve", body={"query": "x"}, cast_to=object)
    assert caught.value.status_code == 503
    assert "index.use: Unknown index 'faiss'" in caught.value.body["message"]  # type: ignore[index]
