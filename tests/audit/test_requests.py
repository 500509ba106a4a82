"""Request records in the audit log, end to end: a real gateway on a SQLite file,
the official openai SDK as the client, ``GET /admin/audit`` and ``audit verify``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import openai
import orjson
import pytest

from switchyard.audit.sealing import Sealer, SealError
from switchyard.cli.main import main
from switchyard.core.config import ConfigError, parse_config
from switchyard.storage.migrate import upgrade
from tests.policies.upstreams import get_json

MASTER = "sk-master-audit-test"
KEY = base64.b64encode(os.urandom(32)).decode()


def _config(url: str, **audit: Any) -> dict[str, Any]:
    return {"auth": {"master_key": MASTER, "keys": [{"key": "sk-team-a", "name": "team-a"}]},
            "storage": {"url": url},
            "models": {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]},
                       "broken": {"deployments": [{"provider": "fake", "model": "fail"}]}},
            "reliability": {"retry": {"attempts": 1}},
            "audit": {"requests": True, **audit}}


def _get(gateway_url: str, key: str, **params: str) -> tuple[int, Any]:
    return get_json(gateway_url, f"/admin/audit?{urlencode(params)}", key=key)


def _audit(gateway_url: str, **params: str) -> list[dict[str, Any]]:
    status, body = _get(gateway_url, MASTER, **params)
    assert status == 200, body
    return body["data"]  # type: ignore[no-any-return]


def test_every_request_is_recorded_with_its_outcome_and_a_sealed_body(tmp_path: Path, start_gateway) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    asyncio.run(upgrade(url))
    gateway = start_gateway(_config(url, include_bodies=True, encryption_key=KEY))
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-team-a", max_retries=0)
    messages = [{"role": "user", "content": "secret plans for tuesday"}]
    sdk.chat.completions.create(model="echo", messages=messages)
    text = "".join(c.choices[0].delta.content or "" for c in
                   sdk.chat.completions.create(model="echo", messages=messages, stream=True) if c.choices)
    assert text == "secret plans for tuesday"
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="broken", messages=messages)

    rows = _audit(gateway.url, kind="request")
    assert [(r["actor"], r["target"], r["detail"]["stream"], r["detail"]["status"]) for r in rows] == [
        ("team-a", "echo", False, 200), ("team-a", "echo", True, 200), ("team-a", "broken", False, 502)]
    assert rows[0]["detail"]["prompt_tokens"] > 0 and rows[1]["detail"]["completion_tokens"] > 0
    assert rows[2]["detail"]["error"] == "upstream_error"
    raw = orjson.dumps(rows)
    assert b"secret plans" not in raw and b"sk-team-a" not in raw  # sealed; the key never appears
    sealer = Sealer(KEY)
    body = orjson.loads(sealer.open(rows[0]["detail"]["body"], rows[0]["detail"]["request_id"]))
    assert body["messages"][0]["content"] == "secret plans for tuesday"
    with pytest.raises(SealError):  # moved onto another entry: it does not open
        sealer.open(rows[0]["detail"]["body"], rows[1]["detail"]["request_id"])
    assert [r["id"] for r in _audit(gateway.url, kind="request", after=str(rows[0]["id"]), limit="1")] == [
        rows[1]["id"]]

    gateway.stop()  # the writer flushes on shutdown; then the chain is checked from the file
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", "verify", "--url", url]) == 0
    assert "intact: 3 entries" in out.getvalue()


def test_the_audit_api_needs_an_admin_role_and_names_bad_filters(tmp_path: Path, start_gateway) -> None:
    gateway = start_gateway(_config("memory://"))
    status, body = _get(gateway.url, "sk-team-a")  # a client key holds no admin role
    assert status == 403 and body["error"]["code"] == "forbidden"
    for params, param in (({"colour": "red"}, "colour"), ({"limit": "0"}, "limit"), ({"from": "tuesday"}, "from")):
        status, body = _get(gateway.url, MASTER, **params)
        assert status == 400 and body["error"]["param"] == param


def test_bodies_are_never_kept_in_clear_and_redis_keeps_no_audit() -> None:
    with pytest.raises(ConfigError, match="encryption_key"):
        parse_config({"audit": {"requests": True, "include_bodies": True}})
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_config({"audit": {"encryption_key": base64.b64encode(b"short").decode()}})
    with pytest.raises(ConfigError, match="Redis store keeps no audit"):
        parse_config({"storage": {"url": "redis://127.0.0.1:6379/0"}, "audit": {"requests": True}})
