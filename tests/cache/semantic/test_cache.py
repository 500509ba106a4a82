"""The semantic cache with the offline model: rewordings hit, other questions miss, tenants never meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from switchyard.cache.semantic import SemanticCache, SemanticHit, SemanticMiss, SemanticSettings
from switchyard.cache.semantic.minilm import MiniLM, MiniLMEmbedder
from tests.cache.semantic.conftest import CORPUS, Clock

ACME, GLOBEX = "tenant:acme", "tenant:globex"


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": text}], "temperature": 0, **extra}


@pytest.fixture
async def cache(minilm: MiniLM, clock: Clock) -> AsyncIterator[SemanticCache]:
    semantic = SemanticCache(MiniLMEmbedder(model=minilm), settings=SemanticSettings(threshold=0.9, ttl=60),
                             clock=clock)
    yield semantic
    await semantic.aclose()


@pytest.mark.parametrize(("stored", "asked"), CORPUS["same"])
async def test_a_reworded_prompt_hits(cache: SemanticCache, stored: str, asked: str) -> None:
    await cache.store(ACME, "chat", ask(stored), b"the answer")
    hit = await cache.lookup(ACME, "chat", ask(asked))
    assert isinstance(hit, SemanticHit), hit
    assert hit.answer == b"the answer" and 0.9 <= hit.similarity <= 1.0


@pytest.mark.parametrize(("stored", "asked"), CORPUS["unrelated"])
async def test_an_unrelated_prompt_misses(cache: SemanticCache, stored: str, asked: str) -> None:
    await cache.store(ACME, "chat", ask(stored), b"the answer")
    miss = await cache.lookup(ACME, "chat", ask(asked), threshold=0.5)
    assert isinstance(miss, SemanticMiss) and miss.reason == "miss" and not miss.bypassed
    assert miss.similarity is not None and miss.similarity < 0.3


async def test_near_rewordings_hit_only_below_the_default_threshold(cache: SemanticCache) -> None:
    for stored, asked in CORPUS["near"]:
        await cache.store(ACME, "chat", ask(stored), stored.encode())
        miss = await cache.lookup(ACME, "chat", ask(asked))
        assert isinstance(miss, SemanticMiss) and miss.similarity is not None and 0.8 <= miss.similarity < 0.9
        hit = await cache.lookup(ACME, "chat", ask(asked), threshold=0.8)
        assert isinstance(hit, SemanticHit) and hit.answer == stored.encode()


@pytest.mark.parametrize(("stored", "asked"), CORPUS["numbers"])
async def test_prompts_alike_but_for_a_number_never_share(cache: SemanticCache, stored: str, asked: str) -> None:
    await cache.store(ACME, "chat", ask(stored), b"the answer")
    assert not (await cache.lookup(ACME, "chat", ask(asked), threshold=0.5)).hit


async def test_two_tenants_never_share_even_the_same_prompt(cache: SemanticCache) -> None:
    prompt = "What is the capital of France?"
    await cache.store(ACME, "chat", ask(prompt), b"acme's answer")
    assert not (await cache.lookup(GLOBEX, "chat", ask(prompt))).hit  # identical: similarity 1.0 in acme
    assert not (await cache.lookup(GLOBEX, "chat", ask("What's the capital city of France?"), threshold=0.0)).hit
    await cache.store(GLOBEX, "chat", ask(prompt), b"globex's answer")
    acme, globex = await cache.lookup(ACME, "chat", ask(prompt)), await cache.lookup(GLOBEX, "chat", ask(prompt))
    assert isinstance(acme, SemanticHit) and acme.answer == b"acme's answer"
    assert isinstance(globex, SemanticHit) and globex.answer == b"globex's answer"


async def test_another_alias_or_system_prompt_or_tool_set_misses(cache: SemanticCache) -> None:
    prompt = "What is the capital of France?"
    await cache.store(ACME, "chat", ask(prompt), b"answer")
    assert not (await cache.lookup(ACME, "other-alias", ask(prompt))).hit
    french = {"model": "chat", "temperature": 0, "messages": [{"role": "system", "content": "Answer in French."},
                                                             {"role": "user", "content": prompt}]}
    assert not (await cache.lookup(ACME, "chat", french)).hit
    tool = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    assert not (await cache.lookup(ACME, "chat", ask(prompt, tools=[tool]))).hit
    assert (await cache.lookup(ACME, "chat", ask(prompt, stream=True, user="someone"))).hit


async def test_entries_expire(cache: SemanticCache, clock: Clock) -> None:
    await cache.store(ACME, "chat", ask("How tall is Mount Everest?"), b"8,849 m", ttl=10)
    clock.now += 9
    assert (await cache.lookup(ACME, "chat", ask("What is the height of Mount Everest?"))).hit
    clock.now += 2
    miss = await cache.lookup(ACME, "chat", ask("What is the height of Mount Everest?"))
    assert isinstance(miss, SemanticMiss) and miss.reason == "miss"
    assert cache.inspect()["entries"] == 0 and len(cache.entries) == 0  # type: ignore[arg-type]


async def test_purge_by_partition_and_alias(cache: SemanticCache) -> None:
    for partition in (ACME, GLOBEX):
        for alias in ("chat", "code"):
            await cache.store(partition, alias, ask("Who wrote Romeo and Juliet?"), f"{partition}/{alias}".encode())
    assert await cache.purge(ACME, "code") == 1
    assert not (await cache.lookup(ACME, "code", ask("Who wrote Romeo and Juliet?"))).hit
    assert (await cache.lookup(ACME, "chat", ask("Who wrote Romeo and Juliet?"))).hit
    assert await cache.purge(GLOBEX) == 2
    assert [g["partition"] for g in cache.inspect()["groups"]] == [ACME]


async def test_inspect_shows_prompts_not_answers(cache: SemanticCache) -> None:
    await cache.store(ACME, "chat", ask("How do I reset my password?"), b"secret answer")
    await cache.lookup(ACME, "chat", ask("I forgot my password, how can I reset it?"))
    seen = cache.inspect(ACME, "chat")
    assert seen["entries"] == 1 and seen["embedder"] == "all-MiniLM-L6-v2" and not seen["shared"]
    assert seen["groups"] == [{"partition": ACME, "alias": "chat", "entries": 1, "contexts": 1, "hits": 1}]
    [item] = seen["items"]
    assert item["prompt"] == "How do I reset my password?" and item["hits"] == 1
    assert "secret answer" not in repr(seen)
    assert cache.inspect(GLOBEX)["items"] == []


async def test_what_the_cache_leaves_alone_is_a_bypass(cache: SemanticCache) -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(9)]
    miss = await cache.lookup(ACME, "chat", {"model": "chat", "messages": turns})
    assert isinstance(miss, SemanticMiss) and miss.reason == "multi_turn" and miss.bypassed
    assert await cache.store(ACME, "chat", {"model": "chat", "messages": turns}, b"x") is None
    await cache.store(ACME, "chat", ask("a word"), b"kept")
    miss = await cache.lookup(ACME, "chat", ask("word " * 300))  # fits max_chars, not the model's 256 tokens
    assert isinstance(miss, SemanticMiss) and miss.reason == "too_long"


async def test_a_lookup_embeds_only_where_something_is_kept_and_the_store_after_it_reuses_its_vector(
        minilm: MiniLM, clock: Clock) -> None:
    embedded: list[str] = []
    embedder = MiniLMEmbedder(model=minilm)
    real = embedder.embed

    async def counted(texts: Any) -> Any:
        embedded.extend(texts)
        return await real(texts)

    embedder.embed = counted  # type: ignore[method-assign]
    cache = SemanticCache(embedder, clock=clock)
    try:
        assert not (await cache.lookup(ACME, "chat", ask("What does HTTP stand for?"))).hit
        assert embedded == []  # nothing kept in that context yet
        assert await cache.store(ACME, "chat", ask("What does HTTP stand for?"), b"HyperText Transfer Protocol")
        assert not (await cache.lookup(ACME, "chat", ask("How do I bake bread?"))).hit
        assert await cache.store(ACME, "chat", ask("How do I bake bread?"), b"Flour, water, salt, time.")
        assert embedded == ["What does HTTP stand for?", "How do I bake bread?"]
    finally:
        await cache.aclose()


async def test_a_busy_embedder_bypasses_and_an_oversized_answer_is_not_kept(minilm: MiniLM, clock: Clock) -> None:
    cache = SemanticCache(MiniLMEmbedder(model=minilm), clock=clock, settings=SemanticSettings(max_answer_bytes=10))
    try:
        assert await cache.store(ACME, "chat", ask("What does HTTP stand for?"), b"kept")
        cache.embedder._batcher.max_pending = 0  # type: ignore[attr-defined]
        miss = await cache.lookup(ACME, "chat", ask("What is HTTP short for?"))
        assert isinstance(miss, SemanticMiss) and miss.reason == "embedder_busy"
        cache.embedder._batcher.max_pending = 256  # type: ignore[attr-defined]
        assert await cache.store(ACME, "chat", ask("What is HTTP short for?"), b"x" * 11) is None
    finally:
        await cache.aclose()


async def test_the_bound_holds(minilm: MiniLM, clock: Clock) -> None:
    cache = SemanticCache(MiniLMEmbedder(model=minilm), clock=clock, settings=SemanticSettings(max_entries=3))
    try:
        for stored, _ in CORPUS["same"][:5]:
            await cache.store(ACME, "chat", ask(stored), stored.encode())
        assert cache.inspect()["entries"] == 3 and len(cache.entries) == 3  # type: ignore[arg-type]
        assert not (await cache.lookup(ACME, "chat", ask(CORPUS["same"][0][0]))).hit
        assert (await cache.lookup(ACME, "chat", ask(CORPUS["same"][4][0]))).hit
    finally:
        await cache.aclose()
