"""The client a deployment sends through: over HTTP/1.1 a child of its egress's client,
with pools and limits of its own; its egress's TLS context shared."""

from __future__ import annotations

import pytest

from switchyard.core.config import DeploymentConfig, TLSConfig
from switchyard.core.errors import ConnectionPoolFull
from switchyard.mock import MockUpstream
from switchyard.transport.client import HttpClient
from switchyard.transport.dial import Egress
from switchyard.transport.http2 import Http2Client
from switchyard.transport.tls import TLSOptions
from switchyard.transport.upstreams import Upstreams

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}'
JSON = {"content-type": "application/json"}


def _deployment(**extra) -> DeploymentConfig:
    return DeploymentConfig(provider="openai", model="gpt-4o-mini", **extra)


async def test_each_deployment_has_pools_of_its_own_with_its_own_limits():
    upstreams = Upstreams()
    small = upstreams.for_deployment(_deployment(connections={"max": 1, "wait": 0.1}))
    large = upstreams.for_deployment(_deployment())
    assert isinstance(small, HttpClient) and isinstance(large, HttpClient) and small is not large
    assert small.egress is large.egress is upstreams.default
    async with MockUpstream(chunk_delay_ms=300) as mock:
        stream_body = BODY[:-1] + b', "stream": true}'
        async with small.stream("POST", mock.base_url + "/chat/completions", headers=JSON, body=stream_body,
                                timeout=5):
            with pytest.raises(ConnectionPoolFull):  # the small deployment's one connection is taken...
                await small.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY, timeout=5)
            # ...the other deployment's pool is its own
            assert (await large.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY,
                                        timeout=5)).status == 200
        assert small.pool_stats()[mock.url]["open"] <= 1 and large.pool_stats()[mock.url]["open"] == 1
        await upstreams.aclose()
        assert small.pool_stats() == {} and large.pool_stats() == {}


def test_an_http2_deployment_shares_its_egress_client():
    upstreams = Upstreams()
    first = upstreams.for_deployment(_deployment(http2=True))
    assert isinstance(first, Http2Client) and first is upstreams.for_deployment(_deployment(http2=True))


async def test_deployments_of_one_egress_share_its_tls_sessions(certs):
    upstreams = Upstreams(Egress(TLSOptions(ca_file=certs.ca_file)))
    one, two = (upstreams.for_deployment(_deployment(tls=TLSConfig(ca_file=certs.ca_file))) for _ in range(2))
    async with MockUpstream(ssl=certs.server_context()) as mock:
        for client in (one, two):
            response = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY)
            assert response.status == 200
    await upstreams.aclose()
    assert (mock.connections, mock.tls_handshakes, mock.tls_resumed) == (2, 2, 1)
