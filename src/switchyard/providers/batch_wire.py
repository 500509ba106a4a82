"""Provider batch APIs, as wire formats: OpenAI's Files + Batches, Anthropic's Message Batches.

Pure functions over bytes and dicts (the HTTP is ``batch/native.py``'s): the upload or request
body a provider's batch takes for the gateway's lines, where a provider batch stands, and its
results as ``NativeResult``s — each line's OpenAI status and body (an Anthropic message comes
back as an OpenAI chat completion, translated as live answers are) and its usage.

OpenAI (``/v1/files`` multipart, ``/v1/batches``; ``status`` ``validating`` … ``completed``;
results in the output and error files, one line per request)::

    {"custom_id": "a", "response": {"status_code": 200, "request_id": "…", "body": {…}}, "error": null}

Anthropic (``/v1/messages/batches``; ``processing_status`` ``in_progress`` | ``canceling`` |
``ended``; results at ``results_url``, one line per request)::

    {"custom_id": "a", "result": {"type": "succeeded", "message": {…}}}      (or errored, canceled, expired)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from switchyard.core.messages import Usage
from switchyard.providers.anthropic_format import upstream as anthropic_wire

#: The provider batch is over: its results can be fetched.
OPENAI_DONE = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True, slots=True)
class NativeResult:
    custom_id: str
    status: int
    request_id: str
    body: bytes
    usage: Usage | None = None
    #: For a line the provider did not run: its error code and message (``body`` is then empty).
    error: tuple[str, str] | None = None


def usage_of(body: Any) -> Usage | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    return Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                 completion_tokens=int(usage.get("completion_tokens") or 0),
                 cached_tokens=details.get("cached_tokens"), cache_write_tokens=details.get("cache_write_tokens"),
                 reasoning_tokens=out_details.get("reasoning_tokens"))


# -- OpenAI ---------------------------------------------------------------------------------------
def openai_input(lines: Iterable[tuple[str, bytes]], upstream_model: str, endpoint: str) -> bytes:
    """The JSONL of a provider batch: each ``(custom_id, body)`` with the model the provider knows."""
    out = []
    for custom_id, raw in lines:
        body = orjson.loads(raw)
        body["model"] = upstream_model
        out.append(orjson.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}))
    return b"\n".join(out) + b"\n"


def multipart(fields: dict[str, str], name: str, filename: str, content: bytes) -> tuple[str, bytes]:
    """``(content-type, body)`` of a ``multipart/form-data`` upload of ``content`` with ``fields``."""
    boundary = "sy" + secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                 "Content-Type: application/jsonl\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def openai_results(content: bytes) -> list[NativeResult]:
    """The lines of an OpenAI batch's output or error file."""
    out = []
    for raw in content.splitlines():
        if not raw.strip():
            continue
        line = orjson.loads(raw)
        response, error = line.get("response"), line.get("error")
        if isinstance(response, dict):
            body = response.get("body")
            out.append(NativeResult(str(line.get("custom_id")), int(response.get("status_code") or 500),
                                    str(response.get("request_id") or ""), orjson.dumps(body), usage_of(body)))
        else:
            error = error if isinstance(error, dict) else {}
            out.append(NativeResult(str(line.get("custom_id")), 0, "", b"",
                                    error=(str(error.get("code") or "native_batch_error"),
                                           str(error.get("message") or "The provider did not run this line."))))
    return out


# -- Anthropic ------------------------------------------------------------------------------------
def anthropic_requests(lines: Iterable[tuple[str, bytes]], upstream_model: str, *, max_tokens: int,
                       structured: str = "native") -> dict[str, Any]:
    """The body of ``POST /v1/messages/batches`` for OpenAI chat bodies."""
    requests = []
    for custom_id, raw in lines:
        params = anthropic_wire.build_request(orjson.loads(raw), upstream_model, default_max_tokens=max_tokens,
                                              structured=structured)
        params.pop("stream", None)
        requests.append({"custom_id": custom_id, "params": params})
    return {"requests": requests}


def anthropic_results(content: bytes) -> list[NativeResult]:
    out = []
    for raw in content.splitlines():
        if not raw.strip():
            continue
        line = orjson.loads(raw)
        custom_id = str(line.get("custom_id"))
        result = line.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded" and isinstance(result.get("message"), dict):
            body, usage = anthropic_wire.message_to_openai(result["message"])
            out.append(NativeResult(custom_id, 200, str(result["message"].get("id") or ""), orjson.dumps(body), usage))
        elif kind == "errored":
            error = (result.get("error") or {}).get("error") or result.get("error") or {}
            message = str(error.get("message") or "The provider refused this line.")
            body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                              "code": str(error.get("type") or "native_error")}}
            out.append(NativeResult(custom_id, 400, "", orjson.dumps(body)))
        else:
            out.append(NativeResult(custom_id, 0, "", b"", error=(
                f"batch_{kind or 'unknown'}", f"The provider's batch ended without running this line ({kind}).")))
    return out


def missing(results: Sequence[NativeResult], custom_ids: Iterable[str]) -> list[str]:
    """The custom_ids the provider's results leave out."""
    seen = {r.custom_id for r in results}
    return [c for c in custom_ids if c not in seen]
