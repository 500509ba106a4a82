"""The public face: ``import switchyard`` — the pipeline in-process, no HTTP."""

from __future__ import annotations

import asyncio

import pytest

import switchyard
from switchyard.core.errors import AuthenticationFailed, PermissionDenied

HI = [{"role": "user", "content": "hello from the library"}]


def test_the_public_names_are_pinned():
    assert sorted(switchyard.__all__) == sorted([
        "AsyncClient", "Call", "ChatResponse", "Chunk", "Client", "Config", "ConfigError", "EmbeddingResponse",
        "Kind", "Stage", "Streaming", "SwitchyardError", "Unary", "Usage", "__version__", "load_config",
        "parse_config",
    ])
    for name in switchyard.__all__:
        assert getattr(switchyard, name) is not None


def test_sync_client_chat_stream_embed_and_models_on_the_embedded_default():
    with switchyard.Client() as client:
        reply = client.chat(model="fake/echo", messages=HI)
        assert reply.text == "hello from the library"
        assert reply.usage is not None and reply.usage.total_tokens > 0
        chunks = list(client.stream(model="fake/echo", messages=HI))
        assert "".join(c.text for c in chunks) == "hello from the library" and len(chunks) > 2
        vectors = client.embed(model="fake/echo", input=["a", "b"]).vectors
        assert len(vectors) == 2 and len(vectors[0]) > 0 and vectors[0] != vectors[1]
        assert "fake/*" in client.models() or any(m.startswith("fake/") for m in client.models())


def test_sync_client_works_from_inside_a_running_event_loop():
    async def inside() -> str:
        with switchyard.Client() as client:  # its own loop in its own thread: no clash with this one
            return client.chat(model="fake/echo", messages=HI).text

    assert asyncio.run(inside()) == "hello from the library"


def test_a_closed_client_says_so_and_close_is_idempotent():
    client = switchyard.Client()
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.chat(model="fake/echo", messages=HI)


def test_config_from_a_yaml_file(tmp_path):
    path = tmp_path / "switchyard.yaml"
    path.write_text("models:\n  chat:\n    deployments:\n      - provider: fake\n        model: echo\n")
    with switchyard.Client(str(path)) as client:
        assert client.chat(model="chat", messages=HI).text == "hello from the library"
        assert client.models() == ["chat"]


KEYED = {
    "auth": {"keys": [{"key": "sk-team", "name": "team", "models": ["allowed"]}]},
    "models": {"allowed": {"deployments": [{"provider": "fake", "model": "echo"}]},
               "other": {"deployments": [{"provider": "fake", "model": "echo"}]}},
}


async def test_async_client_with_a_key_is_held_to_that_keys_rules():
    async with switchyard.AsyncClient(KEYED, api_key="sk-team") as client:
        assert (await client.chat(model="allowed", messages=HI)).text == "hello from the library"
        assert await client.models() == ["allowed"]
        with pytest.raises(PermissionDenied):
            await client.chat(model="other", messages=HI)
    async with switchyard.AsyncClient(KEYED, api_key="sk-wrong") as client:
        with pytest.raises(AuthenticationFailed):
            await client.chat(model="allowed", messages=HI)
    async with switchyard.AsyncClient(KEYED) as client:  # no key: the process owns the config
        assert (await client.chat(model="other", messages=HI)).text == "hello from the library"


async def test_async_client_starts_on_first_use_and_streams():
    client = switchyard.AsyncClient()
    try:
        texts = [c.text async for c in client.stream(model="fake/echo", messages=HI)]
        assert "".join(texts) == "hello from the library"
    finally:
        await client.aclose()
    assert client.services is None


def test_the_same_reliability_runs_in_process(start_mock, openai_deployment):
    """Retries, breakers and fallbacks are the pipeline's, not the server's: a dead
    deployment is passed over in-process exactly as behind HTTP."""
    bad, good = start_mock(), start_mock()
    bad.set_faults(status=503)
    config = {"reliability": {"retry": {"attempts": 1}},
              "models": {"gpt": {"strategy": "round_robin", "deployments": [
                  openai_deployment(bad, id="bad"), openai_deployment(good, id="good")]}}}
    with switchyard.Client(config) as client:
        for _ in range(4):
            assert client.chat(model="gpt", messages=HI).text
        detail = client._client.services.deployments_detail()  # type: ignore[union-attr]
    assert good.count("/v1/chat/completions") == 4  # every answer came from the good one
    assert bad.count("/v1/chat/completions") >= 1  # the bad one was tried and passed over
    bad_state = next(d for d in detail["deployments"] if d["id"] == "bad")
    assert bad_state["failures"] >= 1
