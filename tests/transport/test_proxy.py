"""Egress through an HTTP proxy: a CONNECT tunnel per TLS connection (TLS end to end),
absolute-form requests for plain http, Basic credentials that never show, a
refusal said plainly, and which origins the environment sends through it."""

from __future__ import annotations

import socket

import pytest

from switchyard.core.errors import UpstreamConnectError
from switchyard.mock import MockUpstream
from switchyard.transport import HttpClient
from switchyard.transport.dial import Egress
from switchyard.transport.proxy import Proxies, ProxyURL
from switchyard.transport.tls import TLSOptions

from .connect_proxy import ConnectProxy

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello through the proxy"}]}'
JSON = {"content-type": "application/json"}
SECRET = "pw-SECRET-3128"


@pytest.fixture
async def start_proxy():
    started: list[ConnectProxy] = []

    async def start(**options) -> ConnectProxy:
        proxy = await ConnectProxy(**options).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        await proxy.aclose()


def through(proxy_url: str, certs=None) -> HttpClient:
    tls = TLSOptions(ca_file=certs.ca_file) if certs is not None else TLSOptions()
    return HttpClient(egress=Egress(tls, Proxies.only(ProxyURL.parse(proxy_url))))


async def test_https_goes_through_one_tunnel_and_tls_is_end_to_end(certs, start_proxy):
    proxy = await start_proxy()
    async with MockUpstream(ssl=certs.server_context()) as mock, through(proxy.url(), certs) as client:
        for _ in range(10):
            response = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=BODY)
            assert response.json()["choices"][0]["message"]["content"] == "hello through the proxy"
    assert proxy.tunnels == 1 and mock.tls_handshakes == 1
    assert proxy.forwarded == []  # the proxy relayed bytes it could not read


async def test_plain_http_is_sent_to_the_proxy_in_absolute_form(start_proxy):
    proxy = await start_proxy(credentials=("gw", SECRET))
    async with MockUpstream() as mock, through(proxy.url("gw", SECRET)) as client:
        response = await client.request("POST", mock.base_url + "/chat/completions?x=1", headers=JSON, body=BODY)
    assert response.status == 200 and mock.count("/v1/chat/completions") == 1
    assert proxy.forwarded == [f"POST http://127.0.0.1:{mock.port}/v1/chat/completions?x=1 HTTP/1.1"]
    assert proxy.tunnels == 0 and proxy.authorizations[-1].startswith("Basic ")


async def test_credentials_open_the_tunnel(certs, start_proxy):
    proxy = await start_proxy(credentials=("gw", SECRET))
    async with MockUpstream(ssl=certs.server_context()) as mock, through(proxy.url("gw", SECRET), certs) as client:
        assert (await client.request("GET", mock.url + "/v1/models")).status == 200
    assert proxy.tunnels == 1 and proxy.refusals == []


@pytest.mark.parametrize("password", [None, "wrong"])
async def test_a_407_is_a_clear_connect_error_without_the_credentials(certs, start_proxy, password):
    proxy = await start_proxy(credentials=("gw", SECRET))
    url = proxy.url("gw", password) if password else proxy.url()
    async with MockUpstream(ssl=certs.server_context()) as mock, through(url, certs) as client:
        with pytest.raises(UpstreamConnectError) as info:
            await client.request("GET", mock.url + "/v1/models")
    why = "it wants credentials" if password is None else "it refused the credentials"
    assert info.value.message == (
        f"proxy http://127.0.0.1:{proxy.port} refused the tunnel to 127.0.0.1:{mock.port}: "
        f"407 Proxy Authentication Required ({why})")
    assert "wrong" not in info.value.message and mock.count("/v1/models") == 0


async def test_a_403_names_the_destination(certs, start_proxy):
    proxy = await start_proxy(forbid=frozenset({"127.0.0.1"}))
    async with MockUpstream(ssl=certs.server_context()) as mock, through(proxy.url(), certs) as client:
        with pytest.raises(UpstreamConnectError, match=r"refused the tunnel to 127\.0\.0\.1:\d+: 403 Forbidden "
                                                        r"\(it forbids this destination\)"):
            await client.request("GET", mock.url + "/v1/models")


async def test_an_unreachable_proxy_is_a_connect_error_naming_it(certs):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # closed again: connecting is refused
    async with through(f"http://127.0.0.1:{dead}", certs) as client:
        with pytest.raises(UpstreamConnectError) as info:
            await client.request("GET", "https://127.0.0.1:9/v1/models", connect_timeout=2)
    assert info.value.message.startswith(f"cannot connect to https://127.0.0.1:9 via proxy http://127.0.0.1:{dead}: ")


def test_proxy_urls_never_show_their_credentials():
    proxy = ProxyURL.parse(f"http://gw:{SECRET}@proxy.internal:3128")
    assert (proxy.host, proxy.port, proxy.label) == ("proxy.internal", 3128, "http://proxy.internal:3128")
    assert SECRET not in repr(proxy) and SECRET not in repr(Proxies.only(proxy))
    assert ProxyURL.parse("http://proxy.internal").port == 80


@pytest.mark.parametrize(("url", "reason"), [
    (f"https://gw:{SECRET}@proxy:3128", "an https:// proxy is not supported"),
    (f"socks5://gw:{SECRET}@proxy:1080", "must be http://"),
    (f"http://gw:{SECRET}@proxy:99999", "not a valid URL"),
    (f"http://gw:{SECRET}@proxy:3128/path", "must not have a path"),
])
def test_a_bad_proxy_url_is_named_and_never_echoed(url, reason):
    with pytest.raises(ValueError) as info:
        Proxies.from_environ({"HTTPS_PROXY": url})
    assert str(info.value).startswith(f"HTTPS_PROXY: {reason}") and SECRET not in str(info.value)


def test_the_environment_picks_a_proxy_per_scheme_and_no_proxy_bypasses_it():
    proxies = Proxies.from_environ({
        "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTP_PROXY": "http://plain:8080",
        "NO_PROXY": "internal.example, .corp.example,10.0.0.0/8, localhost:8443, [::1], api.local:1234",
    })
    assert proxies.for_origin("https", "api.openai.com", 443).host == "lower"  # lower-case wins, as in curl
    assert proxies.for_origin("http", "api.openai.com", 80).host == "plain"
    for host, port in [("internal.example", 443), ("a.internal.example", 443), ("x.corp.example", 443),
                       ("corp.example", 443), ("10.1.2.3", 443), ("localhost", 8443), ("::1", 443),
                       ("api.local", 1234), ("INTERNAL.example.", 443)]:
        assert proxies.for_origin("https", host, port) is None, host
    for host, port in [("notinternal.example", 443), ("11.0.0.1", 443), ("localhost", 443), ("api.local", 443)]:
        assert proxies.for_origin("https", host, port) is not None, host
    assert Proxies.from_environ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}).for_origin("https", "x", 443) is None
    assert Proxies.from_environ({}).for_origin("https", "api.openai.com", 443) is None


def test_a_deployment_proxy_takes_every_origin_whatever_no_proxy_says():
    proxy = ProxyURL.parse("http://p:3128")
    assert Proxies.only(proxy).for_origin("https", "localhost", 443) == proxy
    assert Proxies.only(proxy).for_origin("http", "localhost", 80) == proxy
