"""Every code in the README's error table, produced by a real gateway.

The table (``## Errors``) is parsed from README.md. Each code has a scenario here that
drives a gateway on loopback — mock upstreams with their faults, an OpenAI-format upstream
that answers with a content filter, real limits, breakers and deadlines — and returns what
the client saw. The test checks the status the README gives and the error's OpenAI shape.
A code without a scenario fails, and so does a code the source raises that the table lacks.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
import uvicorn
import uvloop

from switchyard.core.config import parse_config
from switchyard.mock import MockUpstreamThread
from switchyard.server.app import create_app
from switchyard.server.runner import GatewayThread, bind
from tests.docs.test_readme import section, table_column
from tests.governance.conftest import AdminClient, Issuer
from tests.server.raw_http import request, send_bytes

ROOT = Path(__file__).resolve().parents[2]
MASTER, CLIENT, BUDGETED = "sk-master-table", "sk-client-table", "sk-budgeted-table"
PINNED = "sk-pinned-table"
HI = [{"role": "user", "content": "hi"}]

#: Codes in the source that the table leaves out, and why.
NOT_IN_THE_TABLE = {
    "client_disconnected": "499: the client left; nothing is sent",
    "fallback_not_allowed": "only inside `attempts` of all_deployments_failed",
    "unknown_provider": "a config error at start-up (check-config), never an HTTP answer",
    "unknown_plugin": "a config error at start-up (check-config), never an HTTP answer",
    "unknown_component": "a retrieval pipeline's config error (ingest, retrieval eval); over HTTP a 503 naming it",
    "conflict": "a generated key secret equal to a stored one (192 random bits)",
    "directory_full": "past a million records of the in-memory directory (named below the table, not driven)",
    "unknown_step": "a YAML flow naming a step nobody registered: its run fails saying so, never an HTTP answer",
}


def readme_rows() -> dict[str, set[str]]:
    """``code -> status cells`` of the README's error table (a code may be under two statuses)."""
    text = section("Errors")
    rows: dict[str, set[str]] = {}
    for status, cell in zip(table_column(text, 0), table_column(text, 1)):
        for code in re.findall(r"`([a-z_]+)`", re.sub(r"\(.*?\)", "", cell)):  # not the notes in brackets
            rows.setdefault(code, set()).add(status)
    return rows


ROWS = readme_rows()


@dataclass
class Seen:
    status: int
    error: dict[str, Any]
    stream: bool = False


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _ContentFilter(BaseHTTPRequestHandler):
    """An OpenAI-format upstream refusing every prompt, as OpenAI's content filter does."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        payload = json.dumps({"error": {"message": "The prompt was filtered by the content policy.",
                                        "type": "invalid_request_error", "param": "prompt",
                                        "code": "content_filter"}}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class World:
    """The gateways and upstreams the scenarios drive."""

    def __init__(self, mock: MockUpstreamThread, filter_url: str, issuer: Issuer, workdir: str,
                 redis_url: str) -> None:
        def at(model: str, base_url: str = mock.base_url, **extra: Any) -> dict[str, Any]:
            return {"deployments": [{"provider": "openai", "model": model, "base_url": base_url,
                                     "api_key": "sk-up", **extra}]}

        fake = {"provider": "fake", "model": "echo"}
        self.main = GatewayThread({
            "slo": {},
            "agents": {"named": {"support": {"model": "fake/echo"}}},
            "server": {"max_body_bytes": 4096, "max_header_bytes": 4096, "header_timeout": 0.3, "body_timeout": 0.5},
            "auth": {"master_key": MASTER, "keys": [{"key": CLIENT, "name": "limited", "models": ["ok"]}]},
            "reliability": {"retry": {"attempts": 1}},
            "models": {
                "ok": at("gpt-4o-mini"),
                "other": at("gpt-4o-mini"),
                "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
                "server-error": at("mock-500"),
                "garbage": at("mock-garbage"),
                "auth-refused": at("mock-401"),
                "refused": at("gpt-4o-mini", base_url=f"http://127.0.0.1:{_closed_port()}/v1"),
                "slow": at("mock-slow", timeouts={"request": 0.3}),
                "slow-stream": at("mock-slow", timeouts={"first_token": 0.3}),
                "upstream-429": at("mock-429"),
                "filtered": at("gpt-4o-mini", base_url=filter_url),
                "capacity": at("gpt-4o-mini", rpm=1),
                "one-connection": at("gpt-4o-mini", connections={"max": 1, "wait": 0.2},
                                     headers={"x-mock-chunk-delay-ms": "100"}),
                "tiny-context": {"deployments": [{**fake, "capabilities": {"context_window": 16}}]},
                "two-failing": {"deployments": [at("mock-500")["deployments"][0], at("mock-503")["deployments"][0]]},
                "not-json": {"validation": {"retries": 0}, "deployments": [fake]},
                "split": {"strategy": "weighted", "experiment": "split-test",
                          "deployments": [{**fake, "id": "split-a"}, {**fake, "id": "split-b"}]},
            },
        }).start()
        self.limits = GatewayThread({
            "limits": {"estimator": "rough", "default_max_tokens": 5,
                       "rules": [{"scope": "model", "match": "limited", "rpm": 1},
                                 {"scope": "model", "match": "small", "tpm": 100},
                                 {"scope": "model", "match": "cut", "tpm": 50}],
                       "queue": {"concurrency": 1, "max_size": 1, "max_wait": 0.5}},
            "models": {"limited": {"deployments": [fake]}, "small": {"deployments": [fake]},
                       "cut": at("gpt-4o-mini"), "held": {"deployments": [{"provider": "fake", "model": "slow"}]},
                       "queued": {"deployments": [fake]}},
        }).start()
        self.breaker = GatewayThread({
            "reliability": {"retry": {"attempts": 1}, "breaker": {"consecutive_failures": 1, "open_for": 60}},
            "models": {"flaky": at("mock-500")},
        }).start()
        self.redis_down = GatewayThread({
            "redis": {"url": f"redis://127.0.0.1:{_closed_port()}/0", "connect_timeout": 0.2,
                      "operation_timeout": 0.2},
            "limits": {"backend": "redis", "on_backend_error": "closed", "rules": [{"scope": "global", "rpm": 100}]},
            "models": {"ok": {"deployments": [fake]}},
        }).start()

        # Governance: the admin API over a SQLite directory, OIDC from a live local issuer, budgets.
        self.governance = GatewayThread({
            "auth": {"master_key": MASTER, "keys": [
                {"key": CLIENT, "name": "static"},
                {"key": BUDGETED, "name": "budgeted", "budget": {"amount": 0.000001, "period": "daily"}}]},
            "storage": {"url": f"sqlite:///{workdir}/directory.db"},
            "governance": {"oidc": issuer.oidc_config()},
            "batch": {"max_active": 1, "lease": 1, "attempts": 1, "sweep_interval": 0.1},
            "models": {"ok": at("gpt-4o-mini"), "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
                       "hang": at("mock-hang", timeouts={"request": 2})},
        }).start()
        self.admin = AdminClient(self.governance.url, MASTER)
        self.admin.ok("POST", "/admin/tenants", {"name": "acme"})
        self.admin.ok("POST", "/admin/teams", {"name": "ml", "tenant": "acme"})
        self.oidc_down = GatewayThread({
            "auth": {"master_key": MASTER}, "storage": {"url": f"sqlite:///{workdir}/oidc-down.db"},
            "governance": {"oidc": issuer.oidc_config(jwks_url=f"http://127.0.0.1:{_closed_port()}/jwks.json",
                                                      timeout=1)},
            "models": {"ok": {"deployments": [fake]}},
        }).start()
        self.budget_down = GatewayThread({
            "auth": {"master_key": MASTER, "keys": [
                {"key": BUDGETED, "name": "budgeted", "budget": {"amount": 1.0, "period": "daily"}}]},
            "redis": {"url": f"redis://127.0.0.1:{_closed_port()}/0", "connect_timeout": 0.2,
                      "operation_timeout": 0.2},
            "budgets": {"on_backend_error": "closed"},
            "models": {"ok": {"deployments": [fake]}},
        }).start()
        # The response cache, shared through a real Redis; a small stream buffer.
        self.redis_url, self.cache_prefix = redis_url, f"sytest:{uuid.uuid4().hex[:12]}:"
        self.cache = GatewayThread({
            "redis": {"url": redis_url, "prefix": self.cache_prefix},
            "cache": {"backend": "redis", "lock_ttl": 1.0, "stream_buffer_bytes": 1024},
            "models": {"cached": {"cache": {"joinable": True},
                                  **at("gpt-4o-mini", headers={"x-mock-chunk-delay-ms": "60"})}},
        }).start()
        self.issuer = issuer
        echo = {"deployments": [fake]}
        self.guard = GatewayThread({
            "auth": {"master_key": MASTER, "keys": [{"key": PINNED, "name": "pinned", "regions": ["mars"]}]},
            "guard": {"policies": {
                "strict": {"action": "block"},
                "judged": {"moderation": {"alias": "fake/echo"}},
                "judge-down": {"moderation": {"alias": "fake/timeout", "timeout": 0.2}},
                "watched": {"categories": ["ssn"], "output": {"action": "block", "categories": ["email"]}}}},
            "flows": {"url": f"sqlite:///{workdir}/flows.db"},  # inline definitions off (the default)
            "models": {"blocked": {**echo, "guard": "strict"}, "judged": {**echo, "guard": "judged"},
                       "judge-down": {**echo, "guard": "judge-down"}, "watched": {**echo, "guard": "watched"},
                       "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}},
        }).start()

    def stop(self) -> None:
        for gateway in (self.main, self.limits, self.breaker, self.redis_down, self.governance, self.oidc_down,
                        self.budget_down, self.cache, self.guard):
            gateway.stop()


@pytest.fixture(scope="module")
def world(redis_server: tuple[str, int]) -> Iterator[World]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ContentFilter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = Issuer()
    issuer.thread.start()
    with MockUpstreamThread() as mock, tempfile.TemporaryDirectory(prefix="switchyard-errors-") as workdir:
        built = World(mock, f"http://127.0.0.1:{server.server_address[1]}/v1", issuer, workdir,
                      "redis://{}:{}/0".format(*redis_server))
        try:
            yield built
        finally:
            built.stop()
            for http in (server, issuer.server):
                http.shutdown()
                http.server_close()


def _seen(response: Any) -> Seen:
    """The status and the error object ({} for a success)."""
    return Seen(response.status, response.json().get("error", {}))


def chat(gateway: GatewayThread, model: str, key: str | None = MASTER, headers: dict[str, str] | None = None,
         **extra: Any) -> Seen:
    auth = {"authorization": f"Bearer {key}"} if key else {}
    body = orjson.dumps({"model": model, "messages": HI, **extra})
    return _seen(request(gateway.url, "POST", "/v1/chat/completions", body,
                         {"content-type": "application/json", **auth, **(headers or {})}))


def raw(gateway: GatewayThread, payload: bytes) -> Seen:
    """Raw bytes on a fresh connection; the (JSON, maybe chunked) answer."""
    answer = send_bytes(gateway.url, payload, timeout=10)
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    return Seen(int(head.split(b" ", 2)[1]), orjson.loads(body)["error"])


def last_event(gateway: GatewayThread, model: str, text: str) -> Seen:
    body = orjson.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": text}]})
    response = request(gateway.url, "POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    events = [line[6:] for line in response.body.split(b"\n") if line.startswith(b"data: ")]
    assert events and events[-1] != b"[DONE]", response.body
    return Seen(response.status, orjson.loads(events[-1])["error"], stream=True)


def _ready(gateway: GatewayThread) -> dict[str, Any]:
    return request(gateway.url, "GET", "/health/ready").json()


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def _holding_the_slot(world: World, pool: ThreadPoolExecutor) -> Any:
    """A slow stream that holds the limits gateway's one slot (concurrency 1) for about 1.2 s."""
    held = pool.submit(request, world.limits.url, "POST", "/v1/chat/completions",
                       orjson.dumps({"model": "held", "stream": True,
                                     "messages": [{"role": "user", "content": "word " * 20}]}),
                       {"content-type": "application/json"})
    _until(lambda: _ready(world.limits)["admission"]["queue"]["in_flight"] == 1, "the slot is taken")
    return held


def queue_timeout(world: World) -> Seen:
    with ThreadPoolExecutor(2) as pool:
        held = _holding_the_slot(world, pool)
        seen = chat(world.limits, "queued", key=None)
        held.result()
    return seen


def queue_full(world: World) -> Seen:
    with ThreadPoolExecutor(3) as pool:
        held = _holding_the_slot(world, pool)
        waiting = pool.submit(chat, world.limits, "queued", None)
        _until(lambda: _ready(world.limits)["admission"]["queue"]["waiting"] == 1, "a request waits")
        seen = chat(world.limits, "queued", key=None)
        waiting.result()
        held.result()
    return seen


def rate_limit_exceeded(world: World) -> Seen:
    upstream = chat(world.main, "upstream-429")  # the upstream's own 429, under OpenAI's code
    assert upstream.status == 429 and upstream.error["code"] == "rate_limit_exceeded", upstream
    assert chat(world.limits, "limited", key=None).status == 200
    return chat(world.limits, "limited", key=None)


def circuit_open(world: World) -> Seen:
    first = chat(world.breaker, "flaky", key=None)
    assert first.error["code"] == "upstream_error"
    return chat(world.breaker, "flaky", key=None)


def service_unavailable(world: World) -> Seen:
    """A server whose app's services are not running (lifespan off): as while starting or stopping."""
    app = create_app(parse_config({"models": {"ok": {"deployments": [{"provider": "fake", "model": "echo"}]}}}))
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=lambda: uvloop.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    _until(lambda: server.started, "the server started")
    try:
        host, port = sock.getsockname()[:2]
        body = orjson.dumps({"model": "ok", "messages": HI})
        return _seen(request(f"http://{host}:{port}", "POST", "/v1/chat/completions", body,
                             {"content-type": "application/json"}))
    finally:
        server.should_exit = True
        thread.join(10)


def admin_call(world: World, method: str, path: str, body: Any = None, key: str = MASTER) -> Seen:
    status, answer = world.admin.as_(key).call(method, path, body)
    return Seen(status, answer.get("error", {}))


def _key(world: World, **fields: Any) -> dict[str, Any]:
    return world.admin.ok("POST", "/admin/keys", {"team": "ml", **fields})


def key_revoked(world: World) -> Seen:
    created = _key(world)
    world.admin.ok("POST", f"/admin/keys/{created['id']}/revoke")
    final = admin_call(world, "PATCH", f"/admin/keys/{created['id']}", {"rpm": 5})  # a revoked key is final
    assert (final.status, final.error["code"]) == (409, "key_revoked"), final
    return chat(world.governance, "fake/echo", key=created["key"])


def key_expired(world: World) -> Seen:
    created = _key(world)
    world.admin.ok("PATCH", f"/admin/keys/{created['id']}", {"expires_at": "2020-01-01T00:00:00Z"})
    return chat(world.governance, "fake/echo", key=created["key"])


def changed_concurrently(world: World) -> Seen:
    """Writes racing on one record: each reads it, then saves against the revision it read."""
    tenant = world.admin.ok("POST", "/admin/tenants", {"name": "racing"})
    with ThreadPoolExecutor(16) as pool:
        for _ in range(20):
            seen = list(pool.map(lambda i: admin_call(world, "PATCH", f"/admin/tenants/{tenant['id']}",
                                                      {"tier": f"t{i}"}), range(16)))
            raced = [s for s in seen if s.error.get("code") == "changed_concurrently"]
            if raced:
                return raced[0]
    raise AssertionError("16 concurrent writes, 20 times, never raced")


def user_has_keys(world: World) -> Seen:
    user = world.admin.ok("POST", "/admin/users", {"email": "someone@example.com", "tenant": "acme"})
    world.admin.ok("POST", "/admin/keys", {"user": user["id"]})
    return admin_call(world, "DELETE", f"/admin/users/{user['id']}")


def team_not_empty(world: World) -> Seen:
    team = world.admin.ok("POST", "/admin/teams", {"name": "busy", "tenant": "acme"})
    _key(world, team="busy")
    return admin_call(world, "DELETE", f"/admin/teams/{team['id']}")


def budget_exceeded(world: World) -> Seen:
    assert chat(world.governance, "ok", key=BUDGETED).status == 200  # spends past a millionth of a dollar
    return chat(world.governance, "ok", key=BUDGETED)


def connection_pool_full(world: World) -> Seen:
    """One connection, held by a slow stream; the next request waits 0.2 s for it."""
    body = orjson.dumps({"model": "one-connection", "stream": True, "messages": HI})
    parts = world.main.url.split("//")[1].split(":")
    with socket.create_connection((parts[0], int(parts[1])), timeout=10) as held:
        held.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {MASTER}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while b"data: " not in received:  # the stream has its connection
            piece = held.recv(65536)
            assert piece, received
            received += piece
        return chat(world.main, "one-connection")


def joined_too_late(world: World) -> Seen:
    """A stream past its 1 KiB buffer: joining it by its request id can no longer start at its first chunk."""
    request_id = f"late-{uuid.uuid4().hex[:8]}"
    body = orjson.dumps({"model": "cached", "stream": True, "temperature": 0.7,
                         "messages": [{"role": "user", "content": "word " * 40}]})
    parts = world.cache.url.split("//")[1].split(":")
    with socket.create_connection((parts[0], int(parts[1])), timeout=10) as held:
        held.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nx-request-id: {request_id}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while received.count(b"data: ") < 10:  # well past 1 KiB of chunks
            piece = held.recv(65536)
            assert piece, received
            received += piece
        return _last(request(world.cache.url, "GET", f"/v1/streams/{request_id}"))


def _last(response: Any) -> Seen:
    events = [line[6:] for line in response.body.split(b"\n") if line.startswith(b"data: ")]
    assert events and events[-1] != b"[DONE]", response.body
    return Seen(response.status, orjson.loads(events[-1])["error"], stream=True)


def relay_lost(world: World) -> Seen:
    """Another replica claimed the call, relayed one chunk, and died: the stream following it ends."""
    import asyncio

    import redis.asyncio as aioredis

    from switchyard.auth import ANONYMOUS
    from switchyard.cache.entry import Piece
    from switchyard.cache.key import request_key
    from switchyard.cache.partition import partition_of
    from switchyard.cache.relay import Relay
    from switchyard.cache.store_redis import RedisStore
    from switchyard.core.call import Call
    from switchyard.core.messages import validate_chat

    text = f"relayed, then lost {uuid.uuid4().hex[:8]}"
    body = {"model": "cached", "stream": True, "temperature": 0, "messages": [{"role": "user", "content": text}]}
    call = Call("r", request=validate_chat(body))
    call.group = type("Group", (), {"alias": "cached"})()

    async def plant() -> None:
        store = RedisStore(aioredis.Redis.from_url(world.redis_url), world.cache_prefix, 1 << 20, 1 << 20)
        relay = Relay(store, 1.0, 0.05)
        name = store.name(partition_of(ANONYMOUS, "tenant"), request_key(call))
        lock, token = relay.lock_key(name), "dead-leader"
        await relay.client.set(lock, token, px=500)
        piece = Piece(b'{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"half"}}]}')
        await relay.client.xadd(relay.relay_key(token), {"p": msgspec.msgpack.encode([piece]), "k": 0}, id="0-1")
        await relay.client.aclose()

    asyncio.run(plant())
    return _last(request(world.cache.url, "POST", "/v1/chat/completions", orjson.dumps(body),
                         {"content-type": "application/json"}))


def _batch_call(world: World, work: Callable[[Any], Any]) -> Seen:
    """``work(client)`` with the openai SDK on the gateway with batches; the error it met."""
    import openai

    client = openai.OpenAI(base_url=f"{world.governance.url}/v1", api_key=MASTER, max_retries=0)
    try:
        work(client)
    except openai.APIStatusError as exc:
        return Seen(exc.status_code, exc.body)  # type: ignore[arg-type]
    raise AssertionError("no error")


def _submit(client: Any, model: str) -> Any:
    import io

    line = orjson.dumps({"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"model": model, "messages": HI}})
    uploaded = client.files.create(file=("b.jsonl", io.BytesIO(line)), purpose="batch")
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")


def batch_not_cancellable(world: World) -> Seen:
    def work(client: Any) -> None:
        batch = _submit(client, "fake/echo")
        _until(lambda: client.batches.retrieve(batch.id).status == "completed", "the batch completed")
        client.batches.cancel(batch.id)
    return _batch_call(world, work)


def too_many_batches(world: World) -> Seen:
    """One batch may run (``batch.max_active: 1``): its line hangs, and a second is refused."""
    def work(client: Any) -> None:
        held = _submit(client, "hang")
        try:
            _submit(client, "fake/echo")
        finally:
            client.batches.cancel(held.id)
    return _batch_call(world, work)


def _with_length(head: str, body: bytes = b"") -> bytes:
    return f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body


POST = "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer " + MASTER + "\r\n"

SCENARIOS: dict[str, Callable[[World], Seen]] = {
    "invalid_json": lambda w: raw(w.main, _with_length(POST, b'{"model": "ok", "messages": [')),
    "invalid_value": lambda w: chat(w.main, "ok", temperature=5),
    "invalid_http": lambda w: raw(w.main, b"\x16\x03\x01 not http\r\n\r\n"),
    "invalid_timeout": lambda w: chat(w.main, "ok", headers={"x-switchyard-timeout": "soon"}),
    "capability_missing": lambda w: _seen(request(w.main.url, "POST", "/v1/completions",
                                                  orjson.dumps({"model": "fake/echo", "prompt": "x"}),
                                                  {"authorization": f"Bearer {MASTER}"})),
    "context_length_exceeded": lambda w: chat(w.main, "tiny-context", messages=[
        {"role": "user", "content": "a rather long prompt " * 20}]),
    "content_policy_violation": lambda w: chat(w.main, "filtered"),
    "missing_api_key": lambda w: chat(w.main, "ok", key=None),
    "invalid_api_key": lambda w: chat(w.main, "ok", key="sk-wrong"),
    "key_revoked": key_revoked,
    "key_expired": key_expired,
    "invalid_token": lambda w: admin_call(w, "GET", "/admin/keys", key="eyJ!!.not-json.sig"),
    "route_not_allowed": lambda w: chat(w.governance, "fake/echo", key=_key(w, routes=["/v1/embeddings"])["key"]),
    "forbidden": lambda w: admin_call(w, "GET", "/admin/keys", key=CLIENT),
    "key_not_found": lambda w: admin_call(w, "GET", "/admin/keys/key_0000000000000000"),
    "team_not_found": lambda w: admin_call(w, "GET", "/admin/teams/team_0000000000000000"),
    "tenant_not_found": lambda w: admin_call(w, "GET", "/admin/tenants/tenant_0000000000000000"),
    "user_not_found": lambda w: admin_call(w, "GET", "/admin/users/user_0000000000000000"),
    "name_taken": lambda w: admin_call(w, "POST", "/admin/teams", {"name": "ml", "tenant": "acme"}),
    "changed_concurrently": changed_concurrently,
    "tenant_not_empty": lambda w: admin_call(w, "DELETE", "/admin/tenants/" + w.admin.ok(
        "GET", "/admin/tenants")["data"][0]["id"]),
    "team_not_empty": team_not_empty,
    "user_has_keys": user_has_keys,
    "budget_exceeded": budget_exceeded,
    "budget_backend_unreachable": lambda w: chat(w.budget_down, "ok", key=BUDGETED),
    "connection_pool_full": connection_pool_full,
    "spend_records_off": lambda w: admin_call(w, "GET", "/admin/spend?group_by=key"),
    "batches_off": lambda w: _seen(request(w.main.url, "GET", "/v1/batches", headers={"authorization": f"Bearer {MASTER}"})),
    "file_not_found": lambda w: _batch_call(w, lambda c: c.files.retrieve("file-nothing")),
    "batch_not_found": lambda w: _batch_call(w, lambda c: c.batches.retrieve("batch_nothing")),
    "batch_not_cancellable": batch_not_cancellable,
    "too_many_batches": too_many_batches,
    "slo_off": lambda w: _seen(request(w.breaker.url, "GET", "/admin/slo")),
    "agents_off": lambda w: _seen(request(w.limits.url, "POST", "/v1/agents/support", orjson.dumps({"input": "hi"}))),
    "agent_not_found": lambda w: _seen(request(w.main.url, "POST", "/v1/agents/nobody", orjson.dumps({"input": "hi"}),
                                               {"authorization": f"Bearer {MASTER}"})),
    "experiments_off": lambda w: _seen(request(w.breaker.url, "GET", "/admin/experiments")),
    "experiment_not_found": lambda w: _seen(request(w.main.url, "GET", "/admin/experiments/nope",
                                                    headers={"authorization": f"Bearer {MASTER}"})),
    "request_not_found": lambda w: _seen(request(w.main.url, "POST", "/v1/feedback",
                                                 orjson.dumps({"request_id": "req_never", "score": 1}),
                                                 {"authorization": f"Bearer {MASTER}"})),
    "semantic_cache_off": lambda w: admin_call(w, "GET", "/admin/cache/semantic?partition=tenant:acme"),
    "mcp_off": lambda w: admin_call(w, "GET", "/admin/mcp"),
    "flows_off": lambda w: _seen(request(w.main.url, "GET", "/admin/flows/runs",
                                         headers={"authorization": f"Bearer {MASTER}"})),
    "flow_not_found": lambda w: _seen(request(w.guard.url, "GET", "/admin/flows/runs/nothing",
                                              headers={"authorization": f"Bearer {MASTER}"})),
    "inline_flows_off": lambda w: _seen(request(w.guard.url, "POST", "/admin/flows/runs",
                                                orjson.dumps({"definition": {"name": "x", "steps": []}}),
                                                {"authorization": f"Bearer {MASTER}"})),
    "governance_off": lambda w: _seen(request(w.limits.url, "GET", "/admin/keys",
                                              headers={"authorization": "Bearer anything"})),
    "oidc_unavailable": lambda w: _seen(request(w.oidc_down.url, "GET", "/admin/keys", headers={
        "authorization": f"Bearer {w.issuer.token(switchyard_role='owner')}"})),
    "model_not_allowed": lambda w: chat(w.main, "other", key=CLIENT),
    "model_not_found": lambda w: chat(w.main, "no-such-model"),
    "unknown_url": lambda w: _seen(request(w.main.url, "GET", "/v2/nothing")),
    "response_not_found": lambda w: _seen(request(w.main.url, "GET", "/v1/responses/resp_0000", headers={
        "authorization": f"Bearer {MASTER}"})),
    "method_not_allowed": lambda w: _seen(request(w.main.url, "GET", "/v1/chat/completions")),
    "request_timeout": lambda w: raw(w.main, POST.encode() + b"x-partial: never fin"),
    "payload_too_large": lambda w: chat(w.main, "ok", messages=[{"role": "user", "content": "x" * 5000}]),
    "request_headers_too_large": lambda w: raw(w.main, _with_length(POST + "x-big: " + "a" * 5000 + "\r\n")),
    "rate_limit_exceeded": rate_limit_exceeded,
    "request_too_large_for_limit": lambda w: chat(w.limits, "small", key=None, max_tokens=1000),
    "queue_full": queue_full,
    "queue_timeout": queue_timeout,
    "deployment_at_capacity": lambda w: [chat(w.main, "capacity") for _ in range(2)][-1],
    "upstream_error": lambda w: chat(w.main, "server-error"),
    "upstream_connect_error": lambda w: chat(w.main, "refused"),
    "upstream_bad_response": lambda w: chat(w.main, "garbage"),
    "upstream_authentication_error": lambda w: chat(w.main, "auth-refused"),
    "invalid_response": lambda w: chat(w.main, "not-json", response_format={"type": "json_object"}),
    "circuit_open": circuit_open,
    "limits_backend_unreachable": lambda w: chat(w.redis_down, "ok", key=None),
    "service_unavailable": service_unavailable,
    "upstream_timeout": lambda w: chat(w.main, "slow"),
    "first_token_timeout": lambda w: chat(w.main, "slow-stream", stream=True),
    "all_deployments_failed": lambda w: chat(w.main, "two-failing"),
    "token_limit_reached": lambda w: last_event(w.limits, "cut", "abcd" * 25),
    "invalid_cache_control": lambda w: chat(w.cache, "cached", key=None, temperature=0,
                                            headers={"cache-control": "max-age=later"}),
    "stream_not_found": lambda w: _seen(request(w.cache.url, "GET", "/v1/streams/no-such-stream")),
    "stream_subscriber_too_slow": joined_too_late,
    "relay_lost": relay_lost,
    "guard_blocked": lambda w: chat(w.guard, "blocked", messages=[{"role": "user", "content": "to bob@example.com"}]),
    "output_blocked": lambda w: chat(w.guard, "watched", messages=[{"role": "user", "content": "bob@example.com"}]),
    "moderation_flagged": lambda w: chat(w.guard, "judged", messages=[{"role": "user", "content": "unsafe"}]),
    "guard_unavailable": lambda w: chat(w.guard, "judge-down"),
    "region_unavailable": lambda w: chat(w.guard, "fake/echo", key=PINNED),
}


def test_the_table_is_there():
    assert len(ROWS) >= 30, ROWS


@pytest.mark.parametrize("code", sorted(ROWS))
def test_the_gateway_emits_each_code_in_the_readme(world, code):
    scenario = SCENARIOS.get(code)
    assert scenario is not None, f"README lists `{code}`, and no scenario here produces it"
    seen = scenario(world)
    assert seen.error["code"] == code, seen
    assert {"message", "type", "param", "code"} <= set(seen.error) and seen.error["message"], seen
    assert "Traceback" not in seen.error["message"]
    statuses = ROWS[code]
    if seen.stream:
        assert seen.status == 200 and any(s.startswith("200, last SSE event") for s in statuses), (code, seen)
    elif "as last" in statuses:  # the status of the last attempt
        assert seen.status >= 400
    else:
        assert str(seen.status) in statuses, (code, seen, statuses)


def test_every_code_the_source_raises_is_in_the_table():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src" / "switchyard").rglob("*.py")
                       if "mock" not in p.parts)
    raised = set(re.findall(r'\bcode ?= ?"([a-z_]+)"', source)) | set(re.findall(r'\bSKIPPED = "([a-z_]+)"', source))
    missing = sorted(raised - set(ROWS) - set(NOT_IN_THE_TABLE))
    assert not missing, f"codes the gateway answers with that the README's error table lacks: {missing}"
    stale = sorted(set(NOT_IN_THE_TABLE) - raised)
    assert not stale, f"NOT_IN_THE_TABLE names codes the source no longer has: {stale}"


def test_each_scenario_is_for_a_code_in_the_table():
    assert sorted(set(SCENARIOS) - set(ROWS)) == []
