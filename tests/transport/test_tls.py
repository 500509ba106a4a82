"""HTTPS upstreams: verified against the system roots plus ``ca_file`` (or
``SSL_CERT_FILE``), refused in words when the certificate is wrong, one TLS
connection for a run of requests, and a resumed session when reconnecting."""

from __future__ import annotations

import ssl

import pytest

from switchyard.core.errors import UpstreamConnectError
from switchyard.mock import MockUpstream
from switchyard.transport import HttpClient
from switchyard.transport.dial import Egress
from switchyard.transport.tls import TLSOptions, client_context

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello over tls"}]}'
JSON = {"content-type": "application/json"}


def trusting(certs) -> HttpClient:
    return HttpClient(egress=Egress(TLSOptions(ca_file=certs.ca_file)))


async def test_an_upstream_whose_ca_is_trusted_answers(certs):
    async with MockUpstream(ssl=certs.server_context()) as mock, trusting(certs) as client:
        assert mock.url.startswith("https://")
        response = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY)
    assert response.status == 200
    assert response.json()["choices"][0]["message"]["content"] == "hello over tls"


async def test_verification_is_on_by_default(certs):
    async with MockUpstream(ssl=certs.server_context()) as mock, HttpClient() as client:
        with pytest.raises(UpstreamConnectError) as info:
            await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY)
    message = info.value.message
    assert message.startswith(f"cannot connect to https://127.0.0.1:{mock.port}: TLS certificate verification failed")
    assert "unable to get local issuer certificate" in message
    assert mock.count("/v1/chat/completions") == 0


@pytest.mark.parametrize("names", [("other.example",), ("localhost",)])
async def test_a_certificate_for_another_name_is_refused(certs, names):
    async with MockUpstream(ssl=certs.server_context(*names)) as mock, trusting(certs) as client:
        with pytest.raises(UpstreamConnectError) as info:
            await client.request("GET", mock.url + "/v1/models")
    assert "TLS certificate verification failed: IP address mismatch" in info.value.message
    assert "'127.0.0.1'" in info.value.message


async def test_the_hostname_is_checked_by_name_too(certs):
    async with MockUpstream(ssl=certs.server_context("other.example")) as mock, trusting(certs) as client:
        with pytest.raises(UpstreamConnectError) as info:
            await client.request("GET", f"https://localhost:{mock.port}/v1/models")
    assert "Hostname mismatch, certificate is not valid for 'localhost'" in info.value.message


async def test_verify_false_accepts_any_certificate(certs):
    egress = Egress(TLSOptions(verify=False))
    async with MockUpstream(ssl=certs.server_context("other.example")) as mock, HttpClient(egress=egress) as client:
        assert (await client.request("GET", mock.url + "/v1/models")).status == 200


async def test_ssl_cert_file_replaces_the_system_roots(certs, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certs.ca_file)
    async with MockUpstream(ssl=certs.server_context()) as mock, HttpClient() as client:
        assert (await client.request("GET", mock.url + "/v1/models")).status == 200


def test_a_ca_file_that_is_missing_or_not_pem_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"tls.ca_file '/nonexistent/ca.pem': No such file"):
        client_context(TLSOptions(ca_file="/nonexistent/ca.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM certificate in it"):
        client_context(TLSOptions(ca_file=str(junk)))


async def test_a_hundred_sequential_requests_take_one_tls_handshake(certs):
    async with MockUpstream(ssl=certs.server_context()) as mock, trusting(certs) as client:
        for _ in range(100):
            response = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY)
            assert response.status == 200
    assert mock.count("/v1/chat/completions") == 100
    assert (mock.connections, mock.tls_handshakes) == (1, 1)


async def test_reconnecting_resumes_the_tls_session(certs):
    """The upstream closes after every answer (``connection: close``): each request
    dials again, and every handshake after the first is an abbreviated one."""
    async with MockUpstream(ssl=certs.server_context()) as mock, trusting(certs) as client:
        for _ in range(20):
            response = await client.request("POST", mock.base_url + "/chat/completions",
                                            headers={**JSON, "connection": "close"}, body=BODY)
            assert response.status == 200
    assert mock.tls_handshakes == 20
    assert mock.tls_resumed == 19


async def test_an_explicit_ssl_context_is_used_as_given(certs):
    context = ssl.create_default_context(cafile=certs.ca_file)
    async with MockUpstream(ssl=certs.server_context()) as mock, HttpClient(ssl_context=context) as client:
        assert (await client.request("GET", mock.url + "/v1/models")).status == 200
