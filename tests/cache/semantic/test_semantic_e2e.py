"""The semantic cache in the gateway: the official openai SDK -> a gateway -> the mock upstream.

One mock and one gateway serve the module. Each test has a system prompt of its own (it is part
of what must match exactly, so tests never share entries), and counts the upstream calls that
carry it among the requests the mock recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request as raw_request

MASTER, ACME, GLOBEX = "sk-master-semantic", "sk-acme", "sk-globex"
KEYS = [{"key": ACME, "name": "acme", "tenant": "acme"}, {"key": GLOBEX, "name": "globex", "tenant": "globex"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(stream_chunks=6) as upstream:
        yield upstream


def alias(mock: MockUpstreamThread, cache: dict[str, Any]) -> dict[str, Any]:
    return {"cache": cache, "deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                             "api_key": "sk-up"}]}


@pytest.fixture(scope="module")
def gateway(mock: MockUpstreamThread) -> Iterator[GatewayThread]:
    config = {"auth": {"master_key": MASTER, "keys": KEYS},
              "cache": {"semantic": {"threshold": 0.9}},
              "models": {"chat": alias(mock, {"semantic": True}),
                         "strict": alias(mock, {"semantic": {"threshold": 0.99}}),
                         "exact-only": alias(mock, {})}}
    with GatewayThread(config) as running:
        yield running


class Conversation:
    """Questions under one system prompt of their own; ``upstream()`` counts the calls that reached the mock."""

    def __init__(self, gateway: GatewayThread, mock: MockUpstreamThread) -> None:
        self.gateway, self.mock = gateway, mock
        self.system = f"Answer briefly. [{uuid.uuid4().hex[:12]}]"

    def ask(self, text: str, key: str = ACME, model: str = "chat", **params: Any) -> Any:
        client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0, timeout=60)
        return client.chat.completions.with_raw_response.create(
            model=model, temperature=0, **params,
            messages=[{"role": "system", "content": self.system}, {"role": "user", "content": text}])

    def upstream(self) -> int:
        assert self.mock.mock is not None
        return sum(self.system.encode() in r.body for r in list(self.mock.mock.requests))


@pytest.fixture
def talk(gateway: GatewayThread, mock: MockUpstreamThread) -> Conversation:
    return Conversation(gateway, mock)


def test_a_reworded_prompt_is_answered_from_the_cache(talk: Conversation) -> None:
    first = talk.ask("What is the capital of France?")
    assert first.headers["x-switchyard-cache"] == "miss" and talk.upstream() == 1
    again = talk.ask("What's the capital city of France?")
    assert again.headers["x-switchyard-cache"] == "hit"
    assert 0.9 <= float(again.headers["x-switchyard-cache-similarity"]) < 1.0
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert talk.upstream() == 1


def test_an_unrelated_prompt_goes_upstream(talk: Conversation) -> None:
    talk.ask("What is the capital of France?")
    other = talk.ask("How do I bake sourdough bread?")
    assert other.headers["x-switchyard-cache"] == "miss" and "x-switchyard-cache-similarity" not in other.headers
    assert talk.upstream() == 2


def test_two_tenants_sending_the_same_prompt_each_reach_the_upstream_once(talk: Conversation) -> None:
    talk.ask("How tall is Mount Everest?", key=ACME)
    globex = talk.ask("What is the height of Mount Everest?", key=GLOBEX)  # 0.97 to acme's prompt
    assert globex.headers["x-switchyard-cache"] == "miss" and talk.upstream() == 2
    assert talk.ask("How tall is Mount Everest?", key=GLOBEX).headers["x-switchyard-cache"] == "hit"  # exact
    assert talk.ask("What is the height of Mount Everest?", key=ACME).headers["x-switchyard-cache"] == "hit"
    assert talk.upstream() == 2


def test_the_alias_threshold_and_opt_in_apply(talk: Conversation) -> None:
    talk.ask("How do I reverse a list in Python?", model="strict")
    assert talk.ask("How can I reverse a Python list?", model="strict").headers["x-switchyard-cache"] == "miss"  # 0.98
    talk.ask("How do I reverse a list in Python?", model="exact-only")
    assert talk.ask("How can I reverse a Python list?", model="exact-only").headers["x-switchyard-cache"] == "miss"
    assert talk.upstream() == 4


def test_a_similar_streamed_prompt_is_replayed_and_the_sdk_reassembles_it(talk: Conversation) -> None:
    client = openai.OpenAI(base_url=talk.gateway.url + "/v1", api_key=ACME, max_retries=0, timeout=60)

    def streamed(text: str) -> tuple[str, str]:
        with client.chat.completions.with_streaming_response.create(
                model="chat", temperature=0, stream=True,
                messages=[{"role": "system", "content": talk.system}, {"role": "user", "content": text}]) as response:
            state = response.headers["x-switchyard-cache"]
            return state, "".join(chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices)

    state, text = streamed("Who wrote Romeo and Juliet?")
    assert state == "miss" and text
    assert talk.ask("Who is the author of Romeo and Juliet?").headers["x-switchyard-cache"] == "miss"  # not a stream
    assert streamed("Who is the author of Romeo and Juliet?") == ("hit", text)
    assert talk.upstream() == 2


def admin(gateway: GatewayThread, method: str, query: str, key: str = MASTER) -> Any:
    return raw_request(gateway.url, method, f"/admin/cache/semantic?{query}", headers={"authorization": f"Bearer {key}"})


def test_inspect_and_purge_by_partition_and_alias(talk: Conversation, gateway: GatewayThread) -> None:
    answer_id = talk.ask("What does HTTP stand for?", key=ACME).parse().id
    talk.ask("What does HTTP stand for?", key=GLOBEX)
    seen = admin(gateway, "GET", "partition=tenant:acme&alias=chat")
    assert seen.status == 200, seen.body
    body = seen.json()
    assert body["object"] == "semantic_cache" and body["embedder"] == "all-MiniLM-L6-v2"
    assert {g["partition"] for g in body["groups"]} == {"tenant:acme"}
    assert "What does HTTP stand for?" in [item["prompt"] for item in body["items"]]
    assert answer_id.encode() not in seen.body and b"choices" not in seen.body  # prompts, never answers
    purged = admin(gateway, "DELETE", "partition=tenant:acme&alias=chat")
    assert purged.status == 200 and purged.json()["deleted"] >= 1
    assert admin(gateway, "GET", "partition=tenant:acme&alias=chat").json()["items"] == []
    assert talk.ask("What is HTTP short for?", key=ACME).headers["x-switchyard-cache"] == "miss"
    assert talk.ask("What is HTTP short for?", key=GLOBEX).headers["x-switchyard-cache"] == "hit"


def test_admin_requests_are_checked(gateway: GatewayThread) -> None:
    missing = admin(gateway, "DELETE", "alias=chat")
    assert missing.status == 400 and missing.json()["error"]["param"] == "partition"
    unknown = admin(gateway, "GET", "tenant=acme")
    assert unknown.status == 400 and unknown.json()["error"]["param"] == "tenant"
    assert admin(gateway, "GET", "", key=ACME).status == 403  # a client key is no admin
    assert admin(gateway, "GET", "limit=0").json()["error"]["param"] == "limit"


def test_two_gateways_on_one_redis_share_semantic_entries(mock: MockUpstreamThread, redis_url: str,
                                                           redis_prefix: str) -> None:
    config = {"auth": {"master_key": MASTER, "keys": KEYS}, "redis": {"url": redis_url, "prefix": redis_prefix},
              "cache": {"backend": "redis"}, "models": {"chat": alias(mock, {"semantic": True})}}
    with GatewayThread(config) as first, GatewayThread(config) as second:
        talk = Conversation(first, mock)
        assert talk.ask("What time zone is Tokyo in?").headers["x-switchyard-cache"] == "miss"
        there = Conversation(second, mock)
        there.system = talk.system
        index = second.app.services.cache.semantic.cache  # awaited on its own loop: the feed's next event
        arrived = asyncio.run_coroutine_threadsafe(index.fed(lambda: len(index.index) == 1), index._follower.get_loop())
        arrived.result(timeout=10)
        seen = admin(second, "GET", "partition=tenant:acme&alias=chat").json()
        assert seen["shared"] and [item["prompt"] for item in seen["items"]] == ["What time zone is Tokyo in?"]
        hit = there.ask("Which time zone does Tokyo use?")
        assert hit.headers["x-switchyard-cache"] == "hit" and talk.upstream() == 1
        assert admin(second, "DELETE", "partition=tenant:acme").json()["deleted"] >= 1
        assert talk.ask("Which time zone does Tokyo use?").headers["x-switchyard-cache"] == "miss"


def test_embeddings_from_an_alias_through_the_gateways_own_pipeline(mock: MockUpstreamThread) -> None:
    config = {"auth": {"master_key": MASTER, "keys": KEYS},
              "cache": {"semantic": {"embedding": {"alias": "embed"}}},
              "models": {"chat": alias(mock, {"semantic": True}),
                         "embed": {"deployments": [{"provider": "openai", "model": "text-embedding-3-small",
                                                    "base_url": mock.base_url, "api_key": "sk-up"}]}}}
    with GatewayThread(config) as gateway:
        talk = Conversation(gateway, mock)
        before = mock.count("/v1/embeddings")
        assert talk.ask("What is the capital of France?").headers["x-switchyard-cache"] == "miss"
        # another exact key (trailing spaces), the same last turn once trimmed: the mock's vectors are equal
        hit = talk.ask("What is the capital of France?   ")
        assert hit.headers["x-switchyard-cache"] == "hit" and hit.headers["x-switchyard-cache-similarity"] == "1.0000"
        assert talk.ask("How do I bake sourdough bread?").headers["x-switchyard-cache"] == "miss"
        # one embedding per distinct text: the store after a miss, and the trimmed repeat, reuse the lookup's
        assert mock.count("/v1/embeddings") - before == 2 and talk.upstream() == 2
        seen = admin(gateway, "GET", "").json()
        assert seen["embedder"] == "alias:embed" and seen["entries"] == 2
