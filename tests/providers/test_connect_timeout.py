"""Every driver hands its deployment's ``timeouts.connect`` to the transport:
against an upstream that never completes the TCP handshake, chat and stream
fail with ``UpstreamTimeout`` near that bound, not the (much longer) request
timeout or the client's default."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamTimeout
from switchyard.core.messages import validate_chat
from switchyard.core.registry import Registry
from switchyard.transport.client import HttpClient
from tests.providers.conformance import ADAPTERS
from tests.transport.unaccepting import unaccepting_port

CONNECT, SLACK = 0.3, 2.5
# One per driver (the OpenAI-format vendors share one); Vertex first fetches a token elsewhere.
DRIVERS = [a for a in ADAPTERS if a.id in {"openai", "azure", "anthropic", "bedrock", "ollama_chat", "gemini", "cohere"}]


class _Blackhole:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"


@pytest.mark.parametrize("adapter", DRIVERS, ids=[a.id for a in DRIVERS])
async def test_the_deployments_connect_timeout_bounds_the_dial(adapter):
    async with HttpClient(connect_timeout=30) as http:
        with unaccepting_port() as port:
            raw = adapter.deployment(_Blackhole(port))
            config = DeploymentConfig.model_validate({**raw, "timeouts": {"connect": CONNECT, "request": 30}})
            provider = Registry(use_entry_points=False).get(adapter.provider)(config, http)
            request = validate_chat({"model": "alias", "messages": [{"role": "user", "content": "hi"}]})

            async def timed(op: str) -> float:
                started = time.monotonic()
                with pytest.raises(UpstreamTimeout) as info:
                    await getattr(provider, op)(request, Call("connect-timeout"))
                assert "connecting to" in info.value.message, info.value.message
                return time.monotonic() - started

            for elapsed in await asyncio.gather(timed("chat"), timed("stream")):
                assert CONNECT * 0.9 <= elapsed < CONNECT + SLACK, (adapter.id, elapsed)
