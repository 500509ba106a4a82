"""Replicate's predictions API as pure transforms: a chat request as a prediction's
``input``, a finished prediction as a ``chat.completion``, the stream URL's SSE events
as chunks, and its errors.

A language model on Replicate takes a ``prompt`` (and most a ``system_prompt``), not
messages. The system messages become ``system_prompt``; one user turn is the ``prompt``
itself, a longer conversation a transcript (``User: ...`` / ``Assistant: ...`` turns,
ending ``Assistant:``); the last user turn's first image goes as ``image`` (a URL or a
data URI); ``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop`` (as
``stop_sequences``, comma-joined) pass under Replicate's names. A deployment's
``options.input`` adds fixed inputs (a ``prompt_template``, another ``max_new_tokens``
name...), and ``options.max_tokens_input`` renames ``max_tokens``. Tools and response
formats have no place in a prompt: the router refuses them before any call
(``routing/capabilities.py``).

A prediction reports no stop reason: it is ``length`` when the model produced as many
tokens as ``max_tokens`` allowed (its ``metrics.output_token_count``), else ``stop``.
Usage is ``metrics.input_token_count`` and ``output_token_count``. A stream's events are
``output`` (a piece of text, its data lines joined by newlines), ``error``, and ``done``
(``{"reason": "canceled"}`` or ``"error"`` when it did not succeed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from switchyard.core.errors import (
    InvalidRequest,
    SwitchyardError,
    UpstreamProtocolError,
    UpstreamUnavailable,
    from_upstream_status,
)
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, Usage
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body, json_object
from switchyard.transport.sse import SSEDecoder

#: Statuses of a prediction that will not change again.
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
_ROLES = {"user": "User", "assistant": "Assistant", "tool": "Tool"}


def prediction_path(model: str, deployment: str | None) -> tuple[str, dict[str, Any]]:
    """The path under the API root that creates a prediction, and what the body adds besides ``input``:
    a deployment's (``options.deployment``), a model version's (``owner/name:version``), or an official
    model's (``owner/name``)."""
    if deployment:
        return f"/deployments/{deployment}/predictions", {}
    name, _, version = model.partition(":")
    if version:
        return "/predictions", {"version": version}
    if name.count("/") != 1:
        raise InvalidRequest(f"Replicate models are named owner/name (or owner/name:version), not {model!r}",
                             param="model", code="invalid_value")
    return f"/models/{name}/predictions", {}


def build_input(request: ChatRequest, options: dict[str, Any]) -> dict[str, Any]:
    """The prediction's ``input`` for a chat request (see the module docstring)."""
    body = request.body
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    image: str | None = None
    for message in body.get("messages") or ():
        role = message.get("role")
        content = message.get("content")
        text = shapes.text_of(content)
        if role in ("system", "developer"):
            system.append(text)
            continue
        if role == "user" and isinstance(content, list):
            found = next((p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"
                          and isinstance(p.get("image_url"), dict) and p["image_url"].get("url")), None)
            image = found or image
        turns.append((_ROLES.get(role, "User"), text))
    if len(turns) == 1 and turns[0][0] == "User":
        prompt = turns[0][1]
    else:
        prompt = "\n\n".join(f"{who}: {text}" for who, text in turns) + "\n\nAssistant:"
    out: dict[str, Any] = {"prompt": prompt}
    if system:
        out["system_prompt"] = "\n\n".join(system)
    if image is not None:
        out["image"] = image
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        out[str(options.get("max_tokens_input") or "max_tokens")] = limit
    for name in ("temperature", "top_p", "seed"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = stop if isinstance(stop, str) else ",".join(stop)
    extra = options.get("input")
    if isinstance(extra, dict):
        out.update(extra)
    return out


def output_text(output: Any) -> str:
    """A prediction's output as text: a language model's list of pieces joined, a string as is."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and all(isinstance(piece, str) for piece in output):
        return "".join(output)
    return orjson.dumps(output).decode()


def usage_of(prediction: dict[str, Any]) -> Usage | None:
    metrics = prediction.get("metrics")
    if not isinstance(metrics, dict) or metrics.get("output_token_count") is None:
        return None
    return Usage(prompt_tokens=int(metrics.get("input_token_count") or 0),
                 completion_tokens=int(metrics["output_token_count"]))


def parse_prediction(raw: bytes) -> dict[str, Any]:
    prediction = json_object(raw, "Replicate sent")
    if not isinstance(prediction.get("status"), str):
        raise UpstreamProtocolError("Replicate sent a prediction without a status")
    return prediction


def failed(prediction: dict[str, Any]) -> SwitchyardError:
    """The error of a prediction that ended without succeeding."""
    status = prediction.get("status")
    detail = prediction.get("error")
    reason = str(detail)[:500] if detail else status
    return UpstreamUnavailable(f"Replicate prediction {prediction.get('id', '?')} {status}: {reason}")


def to_response(prediction: dict[str, Any], model: str, max_tokens: int | None) -> ChatResponse:
    """A succeeded prediction as a ``chat.completion``."""
    usage = usage_of(prediction)
    finish = "length" if max_tokens is not None and usage is not None and usage.completion_tokens >= max_tokens \
        else "stop"
    choice = {"index": 0, "message": {"role": "assistant", "content": output_text(prediction.get("output")),
                                      "refusal": None}, "logprobs": None, "finish_reason": finish}
    ident = f"chatcmpl-{prediction.get('id') or shapes.new_id('')}"
    return ChatResponse(body=shapes.completion(ident, model, shapes.now(), [choice], usage), usage=usage)


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """Replicate's errors are problem details: ``{"title", "detail", "status"}``."""
    body = error_body(raw)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or "")
    message = f"Replicate returned HTTP {status}" + (f": {detail[:500]}" if detail else "")
    return from_upstream_status(status, message, retry_after=parse_retry_after(get_header, status))


class PredictionEvents:
    """The ``StreamReader`` of a prediction's stream URL (see the module docstring)."""

    __slots__ = ("_sse", "_maker", "_started", "finished")

    def __init__(self, model: str, ident: str) -> None:
        self._sse = SSEDecoder()
        self._maker = shapes.ChunkMaker(f"chatcmpl-{ident}", model)
        self._started = False
        self.finished = False

    def feed(self, data: bytes) -> list[Chunk]:
        out: list[Chunk] = []
        for event in self._sse.feed(data):
            kind = event.event
            if kind == "output":
                if event.data:
                    delta: dict[str, Any] = {"content": event.data}
                    if not self._started:
                        delta = {"role": "assistant", **delta}
                        self._started = True
                    out.append(self._maker.delta(delta))
            elif kind == "error":
                raise UpstreamUnavailable(f"Replicate stream error: {_detail(event.data)}")
            elif kind == "done":
                reason = _reason(event.data)
                if reason in ("canceled", "error", "aborted"):
                    raise UpstreamUnavailable(f"Replicate prediction ended: {reason}")
                self.finished = True
                if not self._started:
                    out.append(self._maker.delta({"role": "assistant", "content": ""}))
                out.append(self._maker.delta({}, "stop"))
                break
        return out

    def close(self) -> list[Chunk]:
        if not self.finished:
            raise UpstreamProtocolError("Replicate's stream ended before its done event")
        return []


def _detail(data: str) -> str:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:500]
    return str(body.get("detail") or body)[:500] if isinstance(body, dict) else data[:500]


def _reason(data: str) -> str | None:
    try:
        body = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None
