"""Fan-out of one upstream stream, in process: slow readers, leaving owners, the buffer's bound."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import switchyard
from switchyard.core.errors import SubscriberTooSlow
from switchyard.mock import MockUpstreamThread

PROMPT = " ".join(f"word{i:02d}" for i in range(40))


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(stream_chunks=40) as upstream:
        yield upstream


def _config(mock: MockUpstreamThread, **cache: Any) -> dict[str, Any]:
    return {"cache": {"stream_buffer_bytes": 2048, **cache}, "spend": {"records": True},
            "models": {"chat": {"cache": {}, "deployments": [{
                "provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-up",
                "headers": {"x-mock-chunk-delay-ms": "5"}}]}}}


async def _read(stream: Any) -> str:
    return "".join([chunk.text async for chunk in stream])


def test_a_slow_reader_is_cut_with_an_error_while_the_others_finish(mock):
    async def run() -> tuple[list[str], list[str], BaseException | None]:
        async with switchyard.AsyncClient(_config(mock)) as client:
            streams = [client.stream(model="chat", messages=[{"role": "user", "content": PROMPT + " slow"}],
                                     temperature=0) for _ in range(3)]
            slow = streams[2]
            first = await slow.__anext__()  # joined; then it stops reading
            texts = await asyncio.gather(_read(streams[0]), _read(streams[1]))
            got = [first.text]
            cut: BaseException | None = None
            try:
                async for chunk in slow:
                    got.append(chunk.text)
            except SubscriberTooSlow as exc:
                cut = exc
            return list(texts), got, cut

    texts, got, cut = asyncio.run(run())
    assert texts == [PROMPT + " slow"] * 2
    assert isinstance(cut, SubscriberTooSlow) and cut.code == "stream_subscriber_too_slow"
    assert "".join(got) != PROMPT + " slow"


def test_the_owner_leaving_early_still_records_the_whole_call_once(mock):
    async def run() -> list[Any]:
        async with switchyard.AsyncClient(_config(mock, stream_buffer_bytes=1 << 20)) as client:
            prompt = PROMPT + " owner"
            owner = client.stream(model="chat", messages=[{"role": "user", "content": prompt}], temperature=0,
                                  stream_options={"include_usage": True})
            await owner.__anext__()
            other = client.stream(model="chat", messages=[{"role": "user", "content": prompt}], temperature=0,
                                  stream_options={"include_usage": True})
            first = await other.__anext__()
            await owner.aclose()  # returns once the shared call ended: the owner's record has its usage
            rest = await _read(other)
            assert first.text + rest == prompt
            spend = client.services.spend  # type: ignore[union-attr]
            await spend.writer.flushed()
            return spend.store.records

    records = asyncio.run(run())
    assert len(records) == 2
    owner, other = records
    assert owner.coalesced is False and owner.estimated is False and owner.completion_tokens >= 40
    assert owner.cost_usd > 0
    assert other.coalesced is True and other.cost_usd == 0 and other.completion_tokens == 0
