"""Stored responses over every durable store: memory, a SQLite file, Redis, PostgreSQL (real servers)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchyard.responses.store import ResponseStore, StoredResponse, response_store_for
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade


@pytest.fixture(params=["memory", "sqlite", "redis", "postgresql"])
async def durable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    prefix = f"sytest:{uuid.uuid4().hex[:12]}:"
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'responses.db'}"
        await upgrade(url)
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = request.getfixturevalue("postgres_url")
        await upgrade(url)
    store = open_store(url, prefix=prefix)
    try:
        yield store
    finally:
        if request.param == "redis":
            keys = [k async for k in store.client.scan_iter(match=prefix + "*")]
            if keys:
                await store.client.delete(*keys)
        await store.aclose()


def _stored(response_id: str, scope: str, text: str = "hi") -> StoredResponse:
    output = [{"id": "msg_out", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    return StoredResponse(response_id, scope, {"id": response_id, "object": "response", "output": output},
                          [{"id": "msg_in", "type": "message", "role": "user",
                            "content": [{"type": "input_text", "text": "question"}]}],
                          [{"id": "msg_0", "type": "message", "role": "user",
                            "content": [{"type": "input_text", "text": "earlier"}]}], time.time())


async def test_a_stored_response_reads_back_in_its_scope_only(durable):
    store: ResponseStore = response_store_for(durable, ttl=60)
    await store.put(_stored("resp_1", "tenant:acme", "answer"))
    got = await store.get("resp_1", "tenant:acme")
    assert got is not None and got.response["output"][0]["content"][0]["text"] == "answer"
    assert [item["id"] for item in got.conversation()] == ["msg_0", "msg_in", "msg_out"]
    assert await store.get("resp_1", "tenant:other") is None
    assert await store.delete("resp_1", "tenant:other") is False
    assert await store.get("resp_1", "tenant:acme") is not None  # another scope's delete did nothing
    assert await store.get("resp_missing", "tenant:acme") is None


async def test_delete_removes_it_once(durable):
    store = response_store_for(durable, ttl=60)
    await store.put(_stored("resp_2", "key:a"))
    assert await store.delete("resp_2", "key:a") is True
    assert await store.get("resp_2", "key:a") is None
    assert await store.delete("resp_2", "key:a") is False


async def test_an_expired_response_is_gone(durable):
    store = response_store_for(durable, ttl=1.0)
    await store.put(_stored("resp_3", ""))
    assert await store.get("resp_3", "") is not None
    deadline = time.monotonic() + 5  # the store's own clock: polled, bounded
    while await store.get("resp_3", "") is not None:
        assert time.monotonic() < deadline, "the response outlived its ttl"
        await asyncio.sleep(0.05)
