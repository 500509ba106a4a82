"""The cache stage in process: where it sits, what it keeps for each kind of call, its semantic seam."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import switchyard
from switchyard.cache import CacheStage
from switchyard.cache.entry import Entry
from switchyard.cache.protocols import SimilarHit
from switchyard.core.call import Call
from switchyard.core.messages import validate_chat, validate_embedding
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.resolve import Resolve

FAKE = [{"provider": "fake", "model": "echo"}]


def _config(**alias: Any) -> dict[str, Any]:
    return {"models": {"chat": {"cache": alias, "deployments": FAKE}, "plain": {"deployments": FAKE}}}


def test_the_stage_is_there_only_when_an_alias_has_cache():
    with switchyard.Client({"models": {"plain": {"deployments": FAKE}}}) as client:
        services = client._client.services  # type: ignore[union-attr]
        assert [type(s) for s in services.pipeline.stages] == [Authenticate, Resolve] and services.cache is None

    async def run() -> Call:
        async with switchyard.AsyncClient(_config()) as client:
            stages = client.services.pipeline.stages  # type: ignore[union-attr]
            assert [type(s) for s in stages] == [Authenticate, Resolve, CacheStage]
            call = Call("r")
            await _chat(client, "plain", call)  # an alias without cache: passed straight on
            return call
    assert "cache" not in asyncio.run(run()).route


async def _chat(client: Any, model: str, call: Call, **params: Any) -> Any:
    services = client.services
    body = {"model": model, "messages": [{"role": "user", "content": "seam me"}], "temperature": 0, **params}
    return await services.pipeline.chat(validate_chat(body), call)


def test_the_default_gateway_does_not_load_the_cache():
    probe = ("import sys, switchyard\n"
             "with switchyard.Client() as c: c.chat(model='fake/echo', messages=[{'role': 'user', 'content': 'hi'}])\n"
             "print('switchyard.cache' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_embeddings_and_completions_are_cached_too():
    async def run() -> list[str]:
        async with switchyard.AsyncClient(_config()) as client:
            seen = []
            for _ in range(2):
                call = Call("e")
                await client.services.pipeline.embed(  # type: ignore[union-attr]
                    validate_embedding({"model": "chat", "input": ["one", "two"]}), call)
                seen.append(call.route["cache"])
            return seen
    assert asyncio.run(run()) == ["miss", "hit"]


def test_streamed_tool_calls_are_not_kept_unless_the_alias_says_so():
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    async def run(keep: bool) -> list[str]:
        config = _config(tool_calls=keep)
        async with switchyard.AsyncClient(config) as client:
            seen = []
            for _ in range(2):
                call = Call("t")
                body = {"model": "chat", "stream": True, "temperature": 0, "tools": tools,
                        "messages": [{"role": "user", "content": "call lookup"}]}
                chunks = await client.services.pipeline.stream(validate_chat(body), call)  # type: ignore[union-attr]
                got = [chunk async for chunk in chunks]
                assert any(b"tool_calls" in (c.raw or b"") or (c.data or {}).get("choices", [{}])[0].get(
                    "delta", {}).get("tool_calls") for c in got)
                seen.append(call.route["cache"])
            return seen

    assert asyncio.run(run(False)) == ["miss", "miss"]
    assert asyncio.run(run(True)) == ["miss", "hit"]


class Similar:
    """A semantic cache that answers every lookup with what it was last given (a test double of
    the seam, not of a store: the exact cache is real)."""

    def __init__(self) -> None:
        self.lookups: list[tuple[str, str]] = []
        self.kept: list[tuple[str, str, Entry]] = []

    async def lookup(self, partition: str, alias: str, call: Any) -> SimilarHit | None:
        self.lookups.append((partition, alias))
        for kept_partition, kept_alias, entry in self.kept:
            if (kept_partition, kept_alias) == (partition, alias):
                return SimilarHit(entry, 0.93)
        return None

    async def store(self, partition: str, alias: str, call: Any, entry: Entry, ttl: float) -> None:
        self.kept.append((partition, alias, entry))

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_the_semantic_seam_is_asked_after_an_exact_miss_and_given_what_is_kept():
    async def run() -> tuple[Similar, list[Call]]:
        similar = Similar()
        async with switchyard.AsyncClient(_config()) as client:
            client.services.cache.semantic = similar  # type: ignore[union-attr]
            first, second = Call("a"), Call("b", headers={"cache-control": "no-store"})
            await _chat(client, "chat", first)
            answer = await _chat(client, "chat", second, seed=1)  # another exact key: the seam answers
            assert answer.text == "seam me"
            return similar, [first, second]

    similar, (first, second) = asyncio.run(run())
    assert first.route["cache"] == "miss" and second.route["cache"] == "hit"
    assert second.response_headers["x-switchyard-cache-similarity"] == "0.9300"
    assert similar.lookups == [("key:anonymous", "chat")] * 2
    assert len(similar.kept) == 1 and similar.kept[0][:2] == ("key:anonymous", "chat")


def test_a_stream_that_may_not_be_cached_is_shared_only_where_the_alias_says_joinable():
    from switchyard.cache.flight import Reader

    async def run(joinable: bool) -> Any:
        config = _config(joinable=joinable)
        async with switchyard.AsyncClient(config) as client:
            body = {"model": "chat", "stream": True, "temperature": 0.9, "messages": [{"role": "user", "content": "x"}]}
            call = Call("j")
            chunks = await client.services.pipeline.stream(validate_chat(body), call)  # type: ignore[union-attr]
            inner = chunks._rest  # type: ignore[attr-defined]  # under the pipeline's own wrapper
            _ = [c async for c in chunks]
            return inner, call.route["cache"]

    plain, how = asyncio.run(run(False))
    assert not isinstance(plain, Reader) and how == "bypass"
    shared, how = asyncio.run(run(True))
    assert isinstance(shared, Reader) and how == "bypass"
