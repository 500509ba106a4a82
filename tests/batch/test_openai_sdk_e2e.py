"""The official ``openai`` SDK's batch flow against a gateway on SQLite (its own workers run the lines):
upload, create, poll, output and error files, list, cancel — and each caller sees only its own."""

from __future__ import annotations

import io
import time
from typing import Any

import openai
import orjson
import pytest

from switchyard.batch.runner import LineRunner
from switchyard.core.config import parse_config

MASTER, KEY_A, KEY_B = "sk-master-batch", "sk-batch-a", "sk-batch-b"
CHAT = "/v1/chat/completions"


def _line(custom_id: str, model: str = "chat", url: str = CHAT, **body: Any) -> bytes:
    request = {"model": model, "messages": [{"role": "user", "content": f"say {custom_id}"}], **body}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": request})


def _config(tmp_path: Any, mock: Any = None, **batch: Any) -> dict[str, Any]:
    models: dict[str, Any] = {
        "chat": {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 2, "output": 4}}]},
        "cheap": {"batch": {"discount": True},
                  "deployments": [{"provider": "fake", "model": "echo", "price": {"input": 2, "output": 4, "batch": 0.5}}]},
        "embed": {"deployments": [{"provider": "fake", "model": "echo"}]},
    }
    if mock is not None:
        models["slow"] = {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                           "api_key": "sk-up", "headers": {"x-mock-latency-ms": "150"}}]}
    return {"auth": {"master_key": MASTER, "keys": [{"key": KEY_A, "name": "a", "team": "red"},
                                                      {"key": KEY_B, "name": "b", "team": "blue"}]},
            "storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"}, "spend": {"records": True},
            "batch": {"lease": 1, "sweep_interval": 0.1, **batch}, "models": models,
            "logging": {"access_log": False}}


def _wait(client: openai.OpenAI, batch: Any, until: tuple[str, ...] = ("completed", "failed", "cancelled",
                                                                          "expired"), timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while batch.status not in until:
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)  # polling is the API's way: the SDK has no event to wait on
        batch = client.batches.retrieve(batch.id)
    return batch


def test_upload_create_poll_and_download_with_the_openai_sdk(tmp_path, start_gateway):
    gateway = start_gateway(_config(tmp_path))
    a = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    b = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_B, max_retries=0)
    good = [_line(f"r{i}") for i in range(30)]
    content = b"\n".join([*good, b"{oops", _line("ghost", model="no-such-model"),
                          _line("wrong-url", url="/v1/embeddings"), _line("cheap-1", model="cheap")]) + b"\n"
    uploaded = a.files.create(file=("requests.jsonl", io.BytesIO(content)), purpose="batch")
    assert (uploaded.purpose, uploaded.bytes, uploaded.filename) == ("batch", len(content), "requests.jsonl")
    assert a.files.retrieve(uploaded.id).id == uploaded.id
    assert uploaded.id in [f.id for f in a.files.list()] and uploaded.id not in [f.id for f in b.files.list()]
    with pytest.raises(openai.NotFoundError) as hidden:
        b.files.retrieve(uploaded.id)
    assert hidden.value.body["code"] == "file_not_found"  # type: ignore[index]

    batch = a.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h",
                             metadata={"job": "nightly"})
    assert batch.status in ("in_progress", "completed") and batch.request_counts.total == 34
    assert batch.metadata == {"job": "nightly"} and batch.errors is not None
    assert {(e.line, e.code, e.param) for e in batch.errors.data} == {
        (31, "invalid_json", None), (32, "model_not_found", "body.model"), (33, "invalid_url", "url")}
    batch = _wait(a, batch)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (31, 3)
    assert batch.completed_at and batch.output_file_id and batch.error_file_id
    assert batch.usage is not None and batch.usage.output_tokens == 31 * 2 and batch.usage.input_tokens > 0

    output = [orjson.loads(x) for x in a.files.content(batch.output_file_id).content.splitlines()]
    assert [x["custom_id"] for x in output] == [f"r{i}" for i in range(30)] + ["cheap-1"]
    first = output[0]
    assert first["error"] is None and first["response"]["status_code"] == 200
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "say r0"
    assert first["id"].startswith("batch_req_") and first["response"]["request_id"]
    errors = [orjson.loads(x) for x in a.files.content(batch.error_file_id).content.splitlines()]
    assert [(x["custom_id"], x["error"]["code"], x["error"]["line"]) for x in errors] == [
        (None, "invalid_json", 31), ("ghost", "model_not_found", 32), ("wrong-url", "invalid_url", 33)]
    assert all(x["response"] is None and x["error"]["message"] for x in errors)
    files = {f.id: f for f in a.files.list(purpose="batch_output")}
    assert files[batch.output_file_id].bytes == len(a.files.content(batch.output_file_id).content)

    assert batch.id in [x.id for x in a.batches.list()] and batch.id not in [x.id for x in b.batches.list()]
    with pytest.raises(openai.NotFoundError) as unseen:
        b.batches.retrieve(batch.id)
    assert unseen.value.body["code"] == "batch_not_found"  # type: ignore[index]
    master = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER, max_retries=0)
    assert master.batches.retrieve(batch.id).id == batch.id  # the master key sees everyone's

    # Each line went through the pipeline as its owner: spend records of key a, and the alias that
    # says its upstream bills batches at half price was priced so.
    import urllib.request

    report = orjson.loads(urllib.request.urlopen(urllib.request.Request(
        f"{gateway.url}/admin/spend?group_by=alias", headers={"authorization": f"Bearer {MASTER}"})).read())
    by_alias = {row["alias"]: row for row in report["data"]}
    chat, cheap = by_alias["chat"], by_alias["cheap"]
    assert chat["requests"] == 30 and cheap["requests"] == 1
    assert chat["cost_usd"] == pytest.approx((chat["prompt_tokens"] * 2 + chat["completion_tokens"] * 4) / 1e6)
    assert cheap["cost_usd"] == pytest.approx((cheap["prompt_tokens"] * 2 + cheap["completion_tokens"] * 4) / 2e6)

    assert a.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        a.files.retrieve(uploaded.id)


def test_bad_requests_name_the_field(tmp_path, start_gateway):
    gateway = start_gateway(_config(tmp_path))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    uploaded = client.files.create(file=("r.jsonl", io.BytesIO(_line("x"))), purpose="batch")
    other = client.files.create(file=("notes.txt", io.BytesIO(b"hello")), purpose="user_data")
    cases = [
        (dict(input_file_id="file-nope", endpoint=CHAT), 404, "file_not_found"),
        (dict(input_file_id=uploaded.id, endpoint="/v1/completions"), 400, "endpoint"),
        (dict(input_file_id=other.id, endpoint=CHAT), 400, "input_file_id"),
        (dict(input_file_id=uploaded.id, endpoint=CHAT, metadata={f"k{i}": "v" for i in range(17)}), 400, "metadata"),
    ]
    for params, status, named in cases:
        with pytest.raises(openai.APIStatusError) as refused:
            client.batches.create(completion_window="24h", **params)  # type: ignore[arg-type]
        error = refused.value.body
        assert refused.value.status_code == status and named in (error["param"], error["code"]), error  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("r.jsonl", io.BytesIO(b"{}")), purpose="nonsense")  # type: ignore[arg-type]
    assert purpose.value.body["param"] == "purpose"  # type: ignore[index]


def test_a_cancelled_batch_stops_running_lines_and_keeps_what_finished(tmp_path, start_gateway, mock_upstream):
    gateway = start_gateway(_config(tmp_path, mock_upstream, concurrency=2, chunk_lines=2))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    content = b"\n".join(_line(f"s{i}", model="slow") for i in range(40))
    uploaded = client.files.create(file=("slow.jsonl", io.BytesIO(content)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    batch = _wait(client, batch, until=("in_progress",))
    while batch.request_counts.completed < 2:  # some lines are done
        batch = _wait(client, client.batches.retrieve(batch.id), until=("in_progress",))
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    done = _wait(client, cancelling)
    assert done.status == "cancelled" and done.cancelled_at
    assert 2 <= done.request_counts.completed < 40
    output = client.files.content(done.output_file_id).content.splitlines()
    assert len(output) == done.request_counts.completed
    with pytest.raises(openai.ConflictError) as again:
        client.batches.cancel(batch.id)
    assert again.value.body["code"] == "batch_not_cancellable"  # type: ignore[index]


def test_batch_lines_enter_at_the_lowest_priority_class():
    config = parse_config({"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}},
                           "limits": {"priority": {"classes": ["urgent", "normal", "bulk"], "default": "normal"}}})
    assert LineRunner(None, config, attempts=1, max_retry_wait=1).headers == {"x-switchyard-priority": "bulk"}
    unlimited = parse_config({"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    assert LineRunner(None, unlimited, attempts=1, max_retry_wait=1).headers == {}


def test_a_batch_past_its_window_expires_and_says_which_lines_never_ran(tmp_path, start_gateway, mock_upstream):
    gateway = start_gateway(_config(tmp_path, mock_upstream, concurrency=1, chunk_lines=1, completion_window=1.0))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    content = b"\n".join(_line(f"e{i}", model="slow") for i in range(30))
    uploaded = client.files.create(file=("late.jsonl", io.BytesIO(content)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    assert batch.expires_at == batch.created_at + 1
    done = _wait(client, batch)
    assert done.status == "expired" and done.expired_at
    counts = done.request_counts
    assert counts.completed + counts.failed == 30 and counts.failed > 0
    expired = [orjson.loads(x) for x in client.files.content(done.error_file_id).content.splitlines()]
    assert {x["error"]["code"] for x in expired} == {"batch_expired"} and len(expired) == counts.failed
