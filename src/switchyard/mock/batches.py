"""Provider batch APIs for the mock upstream: OpenAI's Files and Batches, Anthropic's Message Batches.

OpenAI: ``POST /v1/files`` (multipart ``file`` and ``purpose``), ``GET /v1/files/{id}/content``,
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``. Anthropic:
``POST /v1/messages/batches`` (``requests``: ``custom_id`` and ``params``), ``GET
/v1/messages/batches/{id}``, ``GET …/results``, ``POST …/cancel``.

A batch runs when it is created — each request answered by the mock's own chat (or
embeddings) handler, as a live request would be — but is shown in progress until it has been
looked at ``settings.batch_polls`` times, so a client's polling is exercised. A request whose
model is ``mock-500`` (any ``mock-<status>``) fails with that status, like a live one. The
mock keeps its newest ``MAX_KEPT`` files and batches.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Any

import orjson

from switchyard.mock import anthropic, openai
from switchyard.mock.faults import faults_for_model
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route

MAX_KEPT = 64


class MockBatches:
    """The mock's files and batches (one per server, like its prompt cache)."""

    def __init__(self) -> None:
        self.files: OrderedDict[str, bytes] = OrderedDict()
        self.batches: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: How many provider batches were created (for tests).
        self.created = 0

    def keep(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        while len(table) > MAX_KEPT:
            table.popitem(last=False)


def _run(path: str, body: dict[str, Any], settings: MockSettings, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request of a batch through the mock's live handler: ``(status, body)``."""
    faults = faults_for_model(str(body.get("model") or ""))
    if faults is not None and faults.status is not None and faults.status >= 300:
        return faults.status, orjson.dumps({"error": {"message": f"Mock fault: status {faults.status}.",
                                                      "type": "server_error", "param": None, "code": None}})
    handler = {"/v1/chat/completions": openai.chat_completions, "/v1/embeddings": openai.embeddings,
               "/v1/messages": anthropic.messages}[path]
    reply = handler(MockRequest("POST", path, "", headers, orjson.dumps(body)), settings)
    assert isinstance(reply, Reply)
    return reply.status, reply.body


def _openai_error(status: int, message: str) -> Reply:
    return openai.OPENAI.error(status, message)


# -- OpenAI -----------------------------------------------------------------------------------------
def upload(req: MockRequest, settings: MockSettings) -> Reply:
    from switchyard.server.multipart import parse

    parts = parse(req.body, req.headers.get("content-type"))
    if "file" not in parts:
        return _openai_error(400, "'file' is a required property")
    file_id = "file-mock" + secrets.token_hex(8)
    data = parts["file"].data
    settings.batches.keep(settings.batches.files, file_id, data)
    return Reply(200, orjson.dumps({"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                    "filename": parts["file"].filename, "purpose": "batch", "status": "processed"}))


def file_content(req: MockRequest, settings: MockSettings) -> Reply:
    data = settings.batches.files.get(req.params["file_id"])
    if data is None:
        return _openai_error(404, "No such File object")
    return Reply(200, data, content_type="application/octet-stream")


def create_batch(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    content = settings.batches.files.get(body.get("input_file_id") or "")
    if content is None:
        return _openai_error(404, "No such File object")
    outputs: list[bytes] = []
    errors: list[bytes] = []
    for raw in content.splitlines():
        if not raw.strip():
            continue
        line = orjson.loads(raw)
        status, answer = _run(line["url"], line["body"], settings, {})
        entry = {"id": "batch_req_mock" + secrets.token_hex(6), "custom_id": line["custom_id"],
                 "response": {"status_code": status, "request_id": "req_mock" + secrets.token_hex(6),
                              "body": orjson.loads(answer)}, "error": None}
        (outputs if status == 200 else errors).append(orjson.dumps(entry))
    batch_id = "batch_mock" + secrets.token_hex(8)
    out_id = err_id = None
    if outputs:
        out_id = "file-mock" + secrets.token_hex(8)
        settings.batches.keep(settings.batches.files, out_id, b"\n".join(outputs) + b"\n")
    if errors:
        err_id = "file-mock" + secrets.token_hex(8)
        settings.batches.keep(settings.batches.files, err_id, b"\n".join(errors) + b"\n")
    now = int(time.time())
    batch = {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "input_file_id": body["input_file_id"],
             "completion_window": "24h", "status": "in_progress", "created_at": now, "output_file_id": None,
             "error_file_id": None, "request_counts": {"total": len(outputs) + len(errors), "completed": 0,
                                                      "failed": 0},
             "metadata": body.get("metadata"), "_polls": 0, "_files": (out_id, err_id),
             "_counts": (len(outputs), len(errors))}
    settings.batches.keep(settings.batches.batches, batch_id, batch)
    settings.batches.created += 1
    return Reply(200, orjson.dumps(_shown(batch)))


def _shown(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def get_batch(req: MockRequest, settings: MockSettings) -> Reply:
    batch = settings.batches.batches.get(req.params["batch_id"])
    if batch is None:
        return _openai_error(404, "No such Batch object")
    batch["_polls"] += 1
    if batch["status"] == "in_progress" and batch["_polls"] >= settings.batch_polls:
        batch["status"], batch["completed_at"] = "completed", int(time.time())
        batch["output_file_id"], batch["error_file_id"] = batch["_files"]
        ok, failed = batch["_counts"]
        batch["request_counts"] = {"total": ok + failed, "completed": ok, "failed": failed}
    return Reply(200, orjson.dumps(_shown(batch)))


def cancel_batch(req: MockRequest, settings: MockSettings) -> Reply:
    batch = settings.batches.batches.get(req.params["batch_id"])
    if batch is None:
        return _openai_error(404, "No such Batch object")
    if batch["status"] == "in_progress":
        batch["status"] = "cancelled"
    return Reply(200, orjson.dumps(_shown(batch)))


# -- Anthropic --------------------------------------------------------------------------------------
def create_message_batch(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return anthropic.ANTHROPIC.error(400, "requests: must be a non-empty list")
    results = []
    version = {"anthropic-version": req.headers.get("anthropic-version") or "2023-06-01"}
    for item in requests:
        status, answer = _run("/v1/messages", item["params"], settings, version)
        parsed = orjson.loads(answer)
        result = ({"type": "succeeded", "message": parsed} if status == 200 else
                  {"type": "errored", "error": parsed})
        results.append(orjson.dumps({"custom_id": item["custom_id"], "result": result}))
    batch_id = "msgbatch_mock" + secrets.token_hex(8)
    host = req.headers.get("host", "127.0.0.1")
    batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
             "request_counts": {"processing": len(results), "succeeded": 0, "errored": 0, "canceled": 0,
                                "expired": 0},
             "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results_url": None,
             "_polls": 0, "_results": b"\n".join(results) + b"\n",
             "_url": f"http://{host}/v1/messages/batches/{batch_id}/results"}
    settings.batches.keep(settings.batches.batches, batch_id, batch)
    settings.batches.created += 1
    return Reply(200, orjson.dumps(_shown(batch)))


def get_message_batch(req: MockRequest, settings: MockSettings) -> Reply:
    batch = settings.batches.batches.get(req.params["batch_id"])
    if batch is None:
        return anthropic.ANTHROPIC.error(404, "batch not found")
    batch["_polls"] += 1
    if batch["processing_status"] == "in_progress" and batch["_polls"] >= settings.batch_polls:
        batch["processing_status"], batch["results_url"] = "ended", batch["_url"]
        batch["ended_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Reply(200, orjson.dumps(_shown(batch)))


def message_batch_results(req: MockRequest, settings: MockSettings) -> Reply:
    batch = settings.batches.batches.get(req.params["batch_id"])
    if batch is None or batch["processing_status"] != "ended":
        return anthropic.ANTHROPIC.error(404, "results not available")
    return Reply(200, batch["_results"], content_type="application/x-jsonl")


def cancel_message_batch(req: MockRequest, settings: MockSettings) -> Reply:
    batch = settings.batches.batches.get(req.params["batch_id"])
    if batch is None:
        return anthropic.ANTHROPIC.error(404, "batch not found")
    if batch["processing_status"] == "in_progress":
        batch["processing_status"] = "canceling"
    return Reply(200, orjson.dumps(_shown(batch)))


OPENAI_ROUTES = (
    Route("POST", "/v1/files", upload, openai.OPENAI),
    Route("GET", "/v1/files/{file_id}/content", file_content, openai.OPENAI),
    Route("POST", "/v1/batches", create_batch, openai.OPENAI),
    Route("GET", "/v1/batches/{batch_id}", get_batch, openai.OPENAI),
    Route("POST", "/v1/batches/{batch_id}/cancel", cancel_batch, openai.OPENAI),
)
ANTHROPIC_ROUTES = (
    Route("POST", "/v1/messages/batches", create_message_batch, anthropic.ANTHROPIC),
    Route("GET", "/v1/messages/batches/{batch_id}", get_message_batch, anthropic.ANTHROPIC),
    Route("GET", "/v1/messages/batches/{batch_id}/results", message_batch_results, anthropic.ANTHROPIC),
    Route("POST", "/v1/messages/batches/{batch_id}/cancel", cancel_message_batch, anthropic.ANTHROPIC),
)
