"""The response cache end to end: the official SDKs -> a gateway -> the mock upstream.

One mock and one gateway serve the module; each test tags its prompt, and counts
the upstream calls carrying that tag among the requests the mock recorded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request as raw_request

MASTER, ACME_RED, ACME_BLUE, GLOBEX = "sk-master-cache", "sk-acme-red", "sk-acme-blue", "sk-globex"
KEYS = [{"key": ACME_RED, "name": "acme-red", "tenant": "acme", "team": "red"},
        {"key": ACME_BLUE, "name": "acme-blue", "tenant": "acme", "team": "blue"},
        {"key": GLOBEX, "name": "globex", "tenant": "globex"}]
ZERO = {"temperature": 0}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(stream_chunks=8) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock: MockUpstreamThread) -> Iterator[GatewayThread]:
    def at(model: str, cache: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return {"cache": cache or {}, "deployments": [
            {"provider": "openai", "model": model, "base_url": mock.base_url, "api_key": "sk-up", **extra}]}

    slow = {"headers": {"x-mock-chunk-delay-ms": "60"}}
    config = {
        "auth": {"master_key": MASTER, "keys": KEYS},
        "spend": {"records": True},
        "metrics": {"enabled": True},
        "reliability": {"retry": {"attempts": 1}},
        "models": {
            "chat": at("gpt-4o-mini"),
            "slow": at("gpt-4o-mini", {"joinable": True}, **slow),
            "slow-failing": at("mock-drop", **slow),
            "failing": at("mock-500", headers={"x-mock-latency-ms": "300"}),
            "lagging": at("gpt-4o-mini", headers={"x-mock-latency-ms": "300"}),
            "refusing": at("mock-400", {"errors": True}),
            "refusing-plain": at("mock-400"),
            "anything": at("gpt-4o-mini", {"nondeterministic": True}),
            "uncached": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                          "api_key": "sk-up"}]},
            "claude": {"cache": {}, "deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5",
                                                     "base_url": mock.url, "api_key": "sk-up"}]},
        },
    }
    with GatewayThread(config) as running:
        yield running


def client(gateway: GatewayThread, key: str = MASTER, **extra: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30, **extra)


def tagged(text: str = "cache me") -> str:
    return f"{text} {uuid.uuid4().hex[:10]}"


def upstream_calls(mock: MockUpstreamThread, tag: str) -> int:
    assert mock.mock is not None
    return sum(tag.encode() in req.body for req in list(mock.mock.requests))


def chat(gateway: GatewayThread, prompt: str, key: str = MASTER, model: str = "chat",
         headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client(gateway, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": prompt}], extra_headers=headers, **{**ZERO, **params})


def test_two_tenants_sending_the_same_prompt_each_reach_the_upstream_once(gateway, mock):
    prompt = tagged("the same prompt")
    seen = [chat(gateway, prompt, key) for key in (ACME_RED, ACME_RED, ACME_BLUE, GLOBEX, GLOBEX)]
    assert [r.headers["x-switchyard-cache"] for r in seen] == ["miss", "hit", "hit", "miss", "hit"]
    assert upstream_calls(mock, prompt) == 2  # acme (both teams: partition by tenant) and globex
    texts = {r.parse().choices[0].message.content for r in seen}
    assert texts == {prompt}
    hit = seen[1]
    assert hit.headers["x-switchyard-cost-usd"] == "0"
    assert float(hit.headers["x-switchyard-cache-saved-usd"]) == float(seen[0].headers["x-switchyard-cost-usd"]) > 0
    assert "x-switchyard-deployment" not in hit.headers and int(hit.headers["age"]) >= 0


def test_a_cached_stream_reassembles_in_the_sdk_to_the_same_text(gateway, mock):
    prompt = tagged("stream me once")

    def streamed() -> tuple[str, str, Any]:
        raw = client(gateway).chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": prompt}], stream=True,
            stream_options={"include_usage": True}, **ZERO)
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return raw.headers["x-switchyard-cache"], text, chunks[-1].usage

    first, second = streamed(), streamed()
    assert (first[0], second[0]) == ("miss", "hit")
    assert first[1] == second[1] == prompt
    assert upstream_calls(mock, prompt) == 1
    assert second[2].completion_tokens == first[2].completion_tokens > 0
    assert second[2].model_extra["cost_usd"] == 0
    assert second[2].model_extra["saved_usd"] == pytest.approx(first[2].model_extra["cost_usd"])


def test_fifty_concurrent_identical_streams_make_one_upstream_call(gateway, mock):
    prompt = tagged("fifty at once")

    async def run() -> list[tuple[str, str]]:
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0,
                                      timeout=30) as async_client:
            async def one() -> tuple[str, str]:
                raw = await async_client.chat.completions.with_raw_response.create(
                    model="slow", messages=[{"role": "user", "content": prompt}], stream=True, **ZERO)
                how = "coalesced" if raw.headers.get("x-switchyard-coalesced") else raw.headers["x-switchyard-cache"]
                text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
                return how, text
            return await asyncio.gather(*[one() for _ in range(50)])

    answers = asyncio.run(run())
    assert upstream_calls(mock, prompt) == 1
    assert [text for _, text in answers] == [prompt] * 50
    kinds = [how for how, _ in answers]
    assert kinds.count("miss") == 1 and kinds.count("coalesced") >= 1
    assert kinds.count("coalesced") + kinds.count("hit") == 49


def test_the_first_client_leaving_does_not_cancel_the_call_for_the_others(gateway, mock):
    prompt = tagged("leave early")
    sdk = client(gateway)
    first = sdk.chat.completions.create(model="slow", messages=[{"role": "user", "content": prompt}], stream=True,
                                        extra_headers={"cache-control": "no-store"}, **ZERO)
    next(iter(first))  # the call is upstream now
    second = sdk.chat.completions.with_raw_response.create(
        model="slow", messages=[{"role": "user", "content": prompt}], stream=True, **ZERO)
    assert second.headers["x-switchyard-coalesced"] == "true"
    first.close()
    text = "".join(c.choices[0].delta.content or "" for c in second.parse() if c.choices)
    assert text == prompt
    assert upstream_calls(mock, prompt) == 1


def test_an_upstream_failure_reaches_every_waiter_as_the_same_error(gateway, mock):
    prompt = tagged("fail for all")

    async def run() -> tuple[list[Any], list[Any]]:
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0,
                                      timeout=30) as async_client:
            async def unary() -> Any:
                try:
                    await async_client.chat.completions.create(
                        model="failing", messages=[{"role": "user", "content": prompt}], **ZERO)
                except openai.APIStatusError as exc:
                    return exc.status_code, exc.body["code"]
                return None

            async def streamed() -> Any:
                stream = await async_client.chat.completions.create(
                    model="slow-failing", messages=[{"role": "user", "content": prompt + " stream"}], stream=True,
                    **ZERO)
                text = ""
                try:
                    async for chunk in stream:
                        text += chunk.choices[0].delta.content or "" if chunk.choices else ""
                except openai.APIError as exc:
                    return text, exc.code if hasattr(exc, "code") else str(exc)
                return text, None
            return await asyncio.gather(*[unary() for _ in range(5)]), await asyncio.gather(
                *[streamed() for _ in range(5)])

    unary, streams = asyncio.run(run())
    assert unary == [(502, "upstream_error")] * 5
    assert upstream_calls(mock, prompt) == 2  # one unary call, one stream
    assert len(set(streams)) == 1 and streams[0][1] is not None and streams[0][0]  # broke after some text


def test_a_stream_can_be_joined_by_its_request_id_within_its_tenant(gateway, mock):
    prompt = tagged("join me")
    request_id = "req-join-" + uuid.uuid4().hex[:8]
    sdk = client(gateway, ACME_RED)
    stream = sdk.chat.completions.create(model="slow", messages=[{"role": "user", "content": prompt}], stream=True,
                                         extra_headers={"x-request-id": request_id}, temperature=0.7)
    first = next(iter(stream))
    other = raw_request(gateway.url, "GET", f"/v1/streams/{request_id}", headers={"authorization": f"Bearer {GLOBEX}"})
    assert other.status == 404 and other.json()["error"]["code"] == "stream_not_found"
    joined = raw_request(gateway.url, "GET", f"/v1/streams/{request_id}",
                         headers={"authorization": f"Bearer {ACME_BLUE}"})
    assert joined.status == 200
    joined_text = joined.body.decode()
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert (first.choices[0].delta.content or "") + rest == prompt
    assert joined_text.rstrip().endswith("data: [DONE]")
    pieces = [line.removeprefix("data: ") for line in joined_text.splitlines() if line.startswith("data: {")]
    joined_words = "".join(openai.types.chat.ChatCompletionChunk.model_validate_json(p).choices[0].delta.content or ""
                           for p in pieces)
    assert joined_words == prompt  # from its first chunk, though it joined late
    assert upstream_calls(mock, prompt) == 1
    over = raw_request(gateway.url, "GET", f"/v1/streams/{request_id}", headers={"authorization": f"Bearer {ACME_BLUE}"})
    assert over.status == 404


def test_cache_control_of_the_request(gateway, mock):
    prompt = tagged("directives")
    assert chat(gateway, prompt, headers={"cache-control": "no-store"}).headers["x-switchyard-cache"] == "miss"
    assert chat(gateway, prompt).headers["x-switchyard-cache"] == "miss"  # nothing was kept
    assert chat(gateway, prompt).headers["x-switchyard-cache"] == "hit"
    assert chat(gateway, prompt, headers={"cache-control": "no-cache"}).headers["x-switchyard-cache"] == "miss"
    assert chat(gateway, prompt, headers={"cache-control": "max-age=0"}).headers["x-switchyard-cache"] == "miss"
    assert chat(gateway, prompt, headers={"cache-control": "max-age=3600"}).headers["x-switchyard-cache"] == "hit"
    assert upstream_calls(mock, prompt) == 4
    with pytest.raises(openai.BadRequestError) as refused:
        chat(gateway, prompt, headers={"cache-control": "max-age=soon"})
    assert refused.value.body["code"] == "invalid_cache_control" and refused.value.body["param"] == "cache-control"


def test_what_is_not_cached_by_default(gateway, mock):
    warm = tagged("warm")
    assert [chat(gateway, warm, temperature=0.8).headers["x-switchyard-cache"] for _ in range(2)] == ["bypass"] * 2
    assert [chat(gateway, warm, model="anything", temperature=0.8).headers["x-switchyard-cache"]
            for _ in range(2)] == ["miss", "hit"]
    assert [chat(gateway, warm, seed=7, temperature=0.8).headers["x-switchyard-cache"]
            for _ in range(2)] == ["miss", "hit"]
    assert "x-switchyard-cache" not in chat(gateway, warm, model="uncached").headers
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    calling = tagged("call lookup")
    answers = [chat(gateway, calling, tools=[tool]) for _ in range(2)]
    assert answers[0].parse().choices[0].message.tool_calls
    assert [a.headers["x-switchyard-cache"] for a in answers] == ["miss", "miss"]
    refused = tagged("refuse")
    for model, expected in (("refusing-plain", 2), ("refusing", 1)):
        for _ in range(2):
            with pytest.raises(openai.APIStatusError) as error:
                chat(gateway, f"{model}: {refused}", model=model)
            assert error.value.status_code == 400
        assert upstream_calls(mock, f"{model}: {refused}") == expected
    assert error.value.response.headers["x-switchyard-cache"] == "hit"


def test_the_anthropic_surface_replays_a_cached_stream(gateway, mock):
    prompt = tagged("anthropic replay")
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=30)

    def streamed() -> tuple[str, str]:
        raw = sdk.messages.with_raw_response.create(model="claude", max_tokens=100, extra_body=ZERO, stream=True,
                                                    messages=[{"role": "user", "content": prompt}])
        text = "".join(e.delta.text for e in raw.parse() if e.type == "content_block_delta")
        return raw.headers["x-switchyard-cache"], text

    first = streamed()
    how, text = streamed()
    assert (first[0], how) == ("miss", "hit") and text == first[1] and prompt in text
    assert upstream_calls(mock, prompt) == 1


def test_records_and_metrics_count_one_upstream_call(gateway, mock):
    prompt = tagged("accounted")
    seen = [chat(gateway, prompt, key) for key in (ACME_RED, ACME_BLUE)]
    assert [r.headers["x-switchyard-cache"] for r in seen] == ["miss", "hit"]
    together = tagged("together")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda key: chat(gateway, together, key, model="lagging"), (ACME_RED, ACME_BLUE)))
    assert sorted(r.headers.get("x-switchyard-coalesced", "no") for r in pair) == ["no", "true"]
    report = raw_request(gateway.url, "GET", "/admin/spend?group_by=key",  # returns once every record is written
                         headers={"authorization": f"Bearer {MASTER}"})
    assert report.status == 200
    records = {r.request_id: r for r in gateway.app.services.spend.store.records}  # type: ignore[union-attr]
    made, hit = (records[r.headers["x-request-id"]] for r in seen)
    assert made.cost_usd > 0 and made.prompt_tokens > 0 and not made.cached
    assert hit.cached and hit.cost_usd == 0 and hit.prompt_tokens == 0  # no upstream call of its own
    led, followed = sorted((records[r.headers["x-request-id"]] for r in pair), key=lambda r: r.coalesced)
    assert not led.coalesced and led.cost_usd > 0
    assert followed.coalesced and followed.cost_usd == 0 and followed.completion_tokens == 0
    text = raw_request(gateway.url, "GET", "/metrics", headers={"authorization": f"Bearer {MASTER}"}).body.decode()
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
             if line.startswith(("switchyard_cache", "switchyard_coalesced"))}
    assert lines['switchyard_cache_requests_total{alias="chat",result="hit"}'] >= 1
    assert lines['switchyard_cache_requests_total{alias="chat",result="miss"}'] >= 1
    assert lines['switchyard_cache_saved_usd_total{alias="chat"}'] > 0
    assert lines['switchyard_coalesced_requests_total{alias="lagging"}'] == 1
