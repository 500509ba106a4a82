"""What the two directions of the Anthropic Messages format share: one table each.

The family translates between Anthropic's Messages API and the gateway's
OpenAI shape both ways — ``upstream`` for an Anthropic model behind the
gateway, ``front`` for an Anthropic client in front of it. The mappings that
hold in both directions live here, once:

- stop reasons: Anthropic ``stop_reason`` <-> OpenAI ``finish_reason``
  (``finish_reason``, ``stop_reason``);
- tool choice: Anthropic ``{"type": "any"}`` <-> OpenAI ``"required"`` ...
  (``TOOL_CHOICES``);
- content blocks: ``text`` blocks and parts (the same shape in both formats:
  ``joined_text``), image and document sources <-> data URLs
  (``url_to_source``, ``source_to_url``), ``tool_use`` blocks <-> OpenAI tool
  calls (``tool_call``, ``tool_input``);
- usage: Anthropic counts cache reads and writes outside ``input_tokens``,
  OpenAI inside ``prompt_tokens`` (``usage_to_core``, ``usage_from_core``);
- thinking: ``thinking`` / ``redacted_thinking`` blocks <-> entries of the
  OpenAI-shape ``thinking_blocks`` list, signatures kept (``thinking_block``);
- error types <-> HTTP statuses (``status_of``, ``error_type_of``).
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import Usage

#: ``(Anthropic stop_reason, OpenAI finish_reason)``. Read left to right for an
#: Anthropic answer; right to left, the first row of a finish reason wins.
STOP_REASONS: tuple[tuple[str, str], ...] = (
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("pause_turn", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"),
    ("tool_use", "function_call"),  # OpenAI's legacy name for tool_calls
    ("refusal", "content_filter"),
)
# reversed: where a name appears twice, its first row is the one kept
_FINISH_BY_STOP = {stop: finish for stop, finish in reversed(STOP_REASONS)}
_STOP_BY_FINISH = {finish: stop for stop, finish in reversed(STOP_REASONS)}

#: ``(Anthropic error type, HTTP status)``. Read left to right for an error that came
#: without a status (a stream's ``error`` event); right to left to render our errors,
#: the first row of a status wins. A status not listed renders as ``api_error``.
ERROR_TYPES: tuple[tuple[str, int], ...] = (
    ("invalid_request_error", 400),
    ("authentication_error", 401),
    ("billing_error", 402),
    ("permission_error", 403),
    ("not_found_error", 404),
    ("request_too_large", 413),
    ("rate_limit_error", 429),
    ("api_error", 500),
    ("api_error", 502),
    ("api_error", 504),
    ("timeout_error", 504),
    ("overloaded_error", 529),
    ("overloaded_error", 503),
)
_STATUS_BY_TYPE = {kind: status for kind, status in reversed(ERROR_TYPES)}
_TYPE_BY_STATUS = {status: kind for kind, status in reversed(ERROR_TYPES)}

#: Anthropic ``tool_choice.type`` -> OpenAI ``tool_choice`` (a named tool is the
#: object form in both: ``{"type": "tool", "name"}`` / ``{"type": "function", ...}``).
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
#: OpenAI ``tool_choice`` -> Anthropic ``tool_choice.type``.
TOOL_CHOICE_TYPES = {openai: anthropic for anthropic, openai in TOOL_CHOICES.items()}


def finish_reason(stop: str | None) -> str:
    """An Anthropic ``stop_reason`` as an OpenAI ``finish_reason`` (none or unknown: ``stop``)."""
    return _FINISH_BY_STOP.get(stop or "end_turn", "stop")


def stop_reason(finish: str | None) -> str:
    """An OpenAI ``finish_reason`` as an Anthropic ``stop_reason`` (none or unknown: ``end_turn``)."""
    return _STOP_BY_FINISH.get(finish or "stop", "end_turn")


def status_of(error_type: str | None) -> int:
    """The HTTP status of an Anthropic error type (unknown: 500)."""
    return _STATUS_BY_TYPE.get(str(error_type), 500)


def error_type_of(status: int) -> str:
    """The Anthropic error type for an HTTP status (unknown: ``api_error``)."""
    return _TYPE_BY_STATUS.get(status, "api_error")


def invalid(message: str, param: str) -> InvalidRequest:
    """The 400 for a field one side cannot express, naming it."""
    return InvalidRequest(message, param=param, code="invalid_value")


def joined_text(content: Any, separator: str = "\n") -> str:
    """The text of ``content``: a string, or the ``text`` items of a list (OpenAI
    parts and Anthropic blocks have the same ``{"type": "text", "text"}`` shape)."""
    if isinstance(content, str):
        return content
    return separator.join(b.get("text", "") for b in content or () if isinstance(b, dict) and b.get("type") == "text")


def url_to_source(url: str, param: str) -> dict[str, Any]:
    """An OpenAI image or file URL (a base64 ``data:`` URL or a link) -> an Anthropic ``source``."""
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        if not comma or ";base64" not in header:
            raise invalid("Image data URLs must be base64: data:<media type>;base64,<data>", param)
        return {"type": "base64", "media_type": header[5:].split(";", 1)[0], "data": data}
    return {"type": "url", "url": url}


def source_to_url(source: dict[str, Any], param: str) -> str:
    """An Anthropic ``source`` (base64 or url) -> the URL OpenAI parts carry."""
    kind = source.get("type")
    if kind == "base64":
        return f"data:{source.get('media_type', 'application/octet-stream')};base64,{source.get('data', '')}"
    if kind == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise invalid(f"Source type {kind!r} can only be sent to Anthropic models", f"{param}.source.type")


def tool_call(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block -> an OpenAI tool call (its input as JSON text)."""
    return {"id": block.get("id", ""), "type": "function",
            "function": {"name": block.get("name", ""), "arguments": orjson.dumps(block.get("input") or {}).decode()}}


def tool_input(arguments: Any) -> Any:
    """An OpenAI tool call's ``arguments`` -> a ``tool_use`` input. Raises ``ValueError``
    when they are not JSON (the caller decides: a request is refused, an answer keeps
    the raw text)."""
    if isinstance(arguments, dict):
        return arguments
    return orjson.loads(arguments) if arguments else {}


def _count(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    return None if value is None else int(value)


def usage_to_core(data: dict[str, Any] | None) -> Usage | None:
    """Anthropic usage (a message's or a ``message_delta``'s) -> core Usage.

    ``input_tokens`` leaves out the cache reads and writes, OpenAI's ``prompt_tokens``
    counts them: prompt = input + cache reads + cache writes. Anthropic reports no
    reasoning count (thinking is inside ``output_tokens``), so ``reasoning_tokens``
    stays unknown (None)."""
    if not data:
        return None
    read = _count(data, "cache_read_input_tokens")
    written = _count(data, "cache_creation_input_tokens")
    return Usage(
        prompt_tokens=int(data.get("input_tokens") or 0) + (read or 0) + (written or 0),
        completion_tokens=int(data.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def usage_from_core(usage: Usage | None) -> dict[str, int | None]:
    """Core Usage -> Anthropic usage, the inverse of ``usage_to_core``; a cache count
    the upstream did not report is null."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": usage.uncached_prompt_tokens, "output_tokens": usage.completion_tokens,
            "cache_read_input_tokens": usage.cached_tokens, "cache_creation_input_tokens": usage.cache_write_tokens}


def thinking_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """An Anthropic ``thinking`` / ``redacted_thinking`` block as an entry of OpenAI-shape
    ``thinking_blocks`` (the same fields, the signature kept for the next turn); None for
    other blocks. The same shape goes back upstream, so it is also the inverse."""
    kind = block.get("type")
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature", "")}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    return None
