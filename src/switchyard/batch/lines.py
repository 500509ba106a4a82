"""An input file's lines, checked before a batch is created: which can run, and why the others cannot.

Each non-blank line must be OpenAI's batch request, ``{"custom_id": str, "method": "POST",
"url": <the batch's endpoint>, "body": {...}}``, with a ``custom_id`` unique in the file, a
body the endpoint accepts (the same validation as the HTTP API: the field is named) that does
not stream, and a model the caller may use. A line that fails any of these is not run: it
becomes an error-file line with OpenAI's error shape (``code``, ``message``, ``param`` naming
the field, ``line``), and the rest of the batch goes ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from switchyard.core.config.batch import ENDPOINTS
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import validate_chat, validate_embedding

#: The longest custom_id kept (OpenAI's limit is 512 characters too).
MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class Line:
    """A line that can run: its number (1-based, as in the file), id, alias and request body (JSON)."""

    line_no: int
    custom_id: str
    alias: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """A line that cannot run, and why."""

    line_no: int
    custom_id: str | None
    code: str
    message: str
    param: str | None = None


@dataclass(slots=True)
class Checked:
    lines: list[Line] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.lines) + len(self.refused)

    def aliases(self) -> set[str]:
        return {line.alias for line in self.lines}


#: ``resolve(model) -> alias``: the alias the caller may use for ``model``, or a ``SwitchyardError``.
Resolve = Callable[[str], str]


def check_lines(content: bytes, endpoint: str, resolve: Resolve, *, max_lines: int) -> Checked:
    """Every non-blank line of ``content`` (JSONL) checked for ``endpoint``; ``ValueError`` when
    the file has no line at all or more than ``max_lines``."""
    out = Checked()
    seen: set[str] = set()
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        if out.total >= max_lines:
            raise ValueError(f"the file has more than {max_lines} lines (batch.max_lines)")
        checked = _check(number, raw, endpoint, resolve, seen)
        (out.lines if isinstance(checked, Line) else out.refused).append(checked)  # type: ignore[arg-type]
    if not out.total:
        raise ValueError("the file has no lines")
    return out


def _check(number: int, raw: bytes, endpoint: str, resolve: Resolve, seen: set[str]) -> Line | Refused:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Refused(number, None, "invalid_json", f"Line {number} is not valid JSON: {exc}.")
    if not isinstance(data, dict):
        return Refused(number, None, "invalid_json", f"Line {number} must be a JSON object.")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        return Refused(number, None, "invalid_value",
                       f"Line {number}: custom_id must be a string of 1 to {MAX_CUSTOM_ID} characters.", "custom_id")
    if custom_id in seen:
        return Refused(number, custom_id, "duplicate_custom_id",
                       f"Line {number}: custom_id {custom_id!r} is used by an earlier line; each must be unique.",
                       "custom_id")
    seen.add(custom_id)
    if data.get("method") != "POST":
        return Refused(number, custom_id, "invalid_value", f"Line {number}: method must be \"POST\".", "method")
    url = data.get("url")
    if url not in ENDPOINTS:
        return Refused(number, custom_id, "invalid_url",
                       f"Line {number}: url must be one of {', '.join(ENDPOINTS)}, not {str(url)[:100]!r}.", "url")
    if url != endpoint:
        return Refused(number, custom_id, "invalid_url",
                       f"Line {number}: url {url} differs from the batch's endpoint {endpoint}.", "url")
    body = data.get("body")
    if not isinstance(body, dict):
        return Refused(number, custom_id, "invalid_value", f"Line {number}: body must be a JSON object.", "body")
    if body.get("stream"):
        return Refused(number, custom_id, "invalid_value", f"Line {number}: a batch line cannot stream.",
                       "body.stream")
    try:
        request = validate_chat(body) if url == "/v1/chat/completions" else validate_embedding(body)
        alias = resolve(request.model)
    except SwitchyardError as exc:
        param = f"body.{exc.param}" if exc.param else None
        return Refused(number, custom_id, exc.code or "invalid_value", f"Line {number}: {exc.message}", param)
    return Line(number, custom_id, alias, orjson.dumps(body))
