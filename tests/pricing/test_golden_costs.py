"""Golden costs: for every provider adapter, a recorded upstream answer and the cost it must produce.

Each file in ``golden/`` holds an answer as the provider documents it (``doc``
names it and the published prices the expected cost was worked out from, by
hand), the adapter and model, and ``cost_usd``. A replay upstream on loopback
gives that answer to the gateway; the client reads the cost from the
``x-switchyard-cost-usd`` header. The path runs through the real adapter
(its parser, the usage it reports), the deployment's price (the genai-prices
table, or the deployment's ``price:``) and the pipeline's account.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from switchyard.server.runner import GatewayThread

GOLDEN = Path(__file__).parent / "golden"
CASES = {path.stem: orjson.loads(path.read_bytes()) for path in sorted(GOLDEN.glob("*.json"))}
ADAPTERS = {"openai", "azure", "anthropic", "gemini", "vertex", "bedrock", "cohere", "groq", "mistral", "deepseek",
            "together", "fireworks", "openrouter", "openai_compatible", "vllm", "ollama", "ollama_chat"}


class _Replay(BaseHTTPRequestHandler):
    """``/<case>/...`` answers with that case's recorded answer; ``.../token`` with an OAuth token."""

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        name, _, rest = self.path.lstrip("/").partition("/")
        self.server.seen.append((name, "/" + rest))  # type: ignore[attr-defined]
        if rest.startswith("token"):
            body = orjson.dumps({"access_token": "ya29.replay", "expires_in": 3600, "token_type": "Bearer"})
        else:
            body = orjson.dumps(CASES[name]["answer"])
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _deployment(name: str, case: dict[str, Any], root: str, pem: str) -> dict[str, Any]:
    base = f"{root}/{name}"
    provider = case["provider"]
    out: dict[str, Any] = {"provider": provider, "model": case["model"], "api_key": "sk-replay", **case.get("deployment", {})}
    if provider in ("anthropic", "azure", "cohere", "ollama_chat"):
        out["base_url"] = base
    elif provider == "gemini":
        out["base_url"] = f"{base}/v1beta"
    elif provider == "vertex":
        del out["api_key"]
        key = {"type": "service_account", "project_id": "proj-1", "private_key_id": "kid1", "private_key": pem,
               "client_email": "gw@proj-1.iam.gserviceaccount.com", "token_uri": f"{base}/token"}
        out.update(base_url=f"{base}/v1", options={"location": "us-central1", "credentials": key})
    elif provider == "bedrock":
        del out["api_key"]
        out.update(base_url=base, options={"aws_access_key_id": "AKIDREPLAY", "aws_secret_access_key": "secret",
                                           "aws_region": "us-east-1"})
    else:
        out["base_url"] = f"{base}/v1"
    return out


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[GatewayThread, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    models = {name: {"deployments": [_deployment(name, case, root, pem)]} for name, case in CASES.items()}
    models["fake"] = {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 3, "output": 15}}]}
    gateway = GatewayThread({"models": models, "reliability": {"retry": {"attempts": 1}}}).start()
    yield gateway, server
    gateway.stop()
    server.shutdown()


def _cost_of(gateway: GatewayThread, alias: str, content: str = "hello") -> tuple[int, float, dict[str, Any]]:
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", orjson.dumps(
            {"model": alias, "max_tokens": 100, "messages": [{"role": "user", "content": content}]}),
            {"content-type": "application/json"})
        response = conn.getresponse()
        body = orjson.loads(response.read())
        return response.status, float(response.getheader("x-switchyard-cost-usd") or "nan"), body
    finally:
        conn.close()


def _expected(case: dict[str, Any], before: datetime, after: datetime) -> set[float]:
    """The cost, or for off-peak pricing the costs of the hours the request may have fallen in."""
    if "cost_usd" in case:
        return {case["cost_usd"]}
    out = set()
    for moment in (before, after):
        minutes = moment.hour * 60 + moment.minute
        for start, cost in case["cost_usd_by_utc_time"]:
            hour, minute = map(int, start.split(":"))
            if hour * 60 + minute <= minutes:
                chosen = cost
        out.add(chosen)
    return out


def test_every_adapter_has_a_golden_answer():
    assert {case["provider"] for case in CASES.values()} == ADAPTERS
    assert all(case["doc"] for case in CASES.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_cost(gateway, name):
    gw, server = gateway
    case = CASES[name]
    before = datetime.now(UTC)
    status, cost, body = _cost_of(gw, name)
    after = datetime.now(UTC)
    assert status == 200, body
    assert any(case["path"] in path for seen, path in server.seen if seen == name), server.seen
    assert any(cost == pytest.approx(expected, rel=1e-9, abs=1e-12) for expected in _expected(case, before, after)), \
        (cost, case.get("cost_usd", case.get("cost_usd_by_utc_time")))


def test_the_fake_adapter_is_priced_by_its_config(gateway):
    gw, _ = gateway
    status, cost, body = _cost_of(gw, "fake", "one two three")
    usage = body["usage"]
    assert status == 200
    assert cost == pytest.approx(usage["prompt_tokens"] * 3e-6 + usage["completion_tokens"] * 15e-6, rel=1e-12)
