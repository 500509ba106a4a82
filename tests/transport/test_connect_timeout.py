"""The connect timeout is the client's default unless a call brings its own
(a deployment's ``timeouts.connect``), and it fires at that bound even when the
request's own timeout is far longer."""

from __future__ import annotations

import time

import pytest

from switchyard.core.errors import UpstreamTimeout
from switchyard.transport.client import HttpClient
from tests.transport.unaccepting import unaccepting_port

# Generous: the machine is shared; what matters is "near 0.3 s", not "near 30 s".
BOUND, SLACK = 0.3, 2.5


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_call_brings_its_own_connect_timeout(streamed):
    async with HttpClient(connect_timeout=30) as client:
        with unaccepting_port() as port:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout) as info:
                if streamed:
                    async with client.stream("POST", url, body=b"{}", timeout=20, connect_timeout=BOUND):
                        pass
                else:
                    await client.request("POST", url, body=b"{}", timeout=20, connect_timeout=BOUND)
            elapsed = time.monotonic() - started
    assert BOUND * 0.9 <= elapsed < BOUND + SLACK, elapsed
    assert "connecting to" in info.value.message and "0.3s" in info.value.message


async def test_without_one_the_clients_default_applies():
    async with HttpClient(connect_timeout=BOUND) as client:
        with unaccepting_port() as port:
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await client.request("GET", f"http://127.0.0.1:{port}/", timeout=20)
            assert time.monotonic() - started < BOUND + SLACK


async def test_the_request_timeout_still_wins_when_shorter():
    async with HttpClient() as client:
        with unaccepting_port() as port:
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await client.request("GET", f"http://127.0.0.1:{port}/", timeout=0.2, connect_timeout=30)
            assert time.monotonic() - started < 0.2 + SLACK
