"""One line per log record, as ``key=value`` pairs or JSON, with secrets blanked.

``setup_logging(config.logging, level)`` installs the one handler every record
goes through — the access log (``observe/access.py``), the gateway's own
records and uvicorn's. Fields passed with ``extra={...}`` become fields of the
line::

    log.info("retry", extra={"request_id": call.request_id, "deployment": d, "attempt": 2})
    ts=2026-11-26T07:01:02.345Z level=info logger=switchyard.retry msg=retry request_id=req_… deployment=d attempt=2

Whatever a caller passes, a field whose name says it holds a secret
(``authorization``, ``api_key``, ``x-api-key``, ``password``, ``*_token``…)
is written as ``[redacted]``, and a field that holds prompt text
(``messages``, ``prompt``…) is too unless ``include_prompts`` is on. Bearer
tokens and ``sk-…`` keys are blanked out of messages and tracebacks.

Nothing here holds state at module level: the formatter and handler belong to
whoever called ``setup_logging`` (the CLI), which can undo it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import IO, Any

import orjson

from switchyard.core.config.logging import LoggingConfig

REDACTED = "[redacted]"

#: Field names (lower case, ``-`` read as ``_``) whose values are never written.
SECRET_FIELDS = frozenset({
    "authorization", "proxy_authorization", "x_api_key", "api_key", "apikey", "key", "master_key",
    "secret", "client_secret", "password", "passwd", "token", "access_token", "refresh_token", "id_token",
    "credentials", "private_key", "cookie", "set_cookie", "session_token", "secret_access_key",
})
_SECRET_SUFFIXES = ("_key", "_secret", "_password", "_token", "_credentials")

#: Field names that carry what a user wrote or a model answered: only with include_prompts.
PROMPT_FIELDS = frozenset({"messages", "prompt", "prompts", "input", "content", "system", "text", "completion"})

# Bearer tokens and OpenAI/Anthropic-style keys inside free text (messages, tracebacks).
_SECRET_TEXT = re.compile(
    r"(?i)(\bbearer\s+|\b(?:x-api-key|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"
    r"|\bsk-[A-Za-z0-9_\-]{8,}"
)
# A kv value is written bare when it has none of these; else JSON-quoted.
_NEEDS_QUOTES = re.compile(r"[^\x21-\x7e]|[\"=\\]")

#: The attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's terminal copy of msg

#: The attribute on a record (set by the access log) holding its fields ready-made.
FIELDS_ATTR = "switchyard_fields"


def is_secret_field(name: str) -> bool:
    key = name.lower().replace("-", "_")
    return key in SECRET_FIELDS or key.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """``text`` with bearer tokens, ``api_key=...`` values and ``sk-...`` keys blanked."""
    return _SECRET_TEXT.sub(_blank, text)


def _blank(match: re.Match[str]) -> str:
    prefix = match.group(1)
    return (prefix or "") + REDACTED


def kv_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        value = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    text = str(value)
    if text and _NEEDS_QUOTES.search(text) is None:
        return text
    return orjson.dumps(text).decode()


_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
           logging.ERROR: "error", logging.CRITICAL: "critical"}
_CACHE_MAX = 4096


class LineFormatter(logging.Formatter):
    """Renders a record as one line: ``ts level logger msg`` then its fields."""

    def __init__(self, fmt: str = "kv", *, include_prompts: bool = False) -> None:
        super().__init__()
        if fmt not in ("kv", "json"):
            raise ValueError(f"log format must be kv or json, not {fmt!r}")
        self.json = fmt == "json"
        self.include_prompts = include_prompts
        self._day: tuple[int, str] = (-1, "")
        self._last: tuple[int, str] = (-1, "")
        # kv renderings of strings that repeat (paths, key names, deployments): the
        # quoting check is the largest cost of a kv line.
        self.quoted: dict[str, str] = {}

    def timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds (the seconds part formatted once a second, the
        whole once a millisecond: lines come many to a millisecond under load)."""
        ms = int(created * 1000)
        last = self._last
        if last[0] == ms:
            return last[1]
        second = ms // 1000
        day = self._day
        if day[0] != second:
            day = self._day = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        stamp = f"{day[1]}.{ms % 1000:03d}Z"
        self._last = (ms, stamp)  # one reference swap: safe between threads
        return stamp

    def _safe(self, name: str, value: Any) -> Any:
        if is_secret_field(name):
            return REDACTED
        if not self.include_prompts and name in PROMPT_FIELDS:
            return REDACTED
        if isinstance(value, dict):
            return {k: self._safe(str(k), v) for k, v in value.items()}
        return value

    def quote_once(self, value: str) -> str:
        """``quote`` for a string that will not come again (a request id): not cached."""
        return value if value.isidentifier() else kv_value(value)

    def quote(self, value: Any) -> str:
        """``value`` as a kv value: bare when it can be, else JSON-quoted."""
        if value.__class__ is str:
            quoted = self.quoted.get(value)
            if quoted is None:
                quoted = kv_value(value)
                if len(self.quoted) >= _CACHE_MAX:
                    self.quoted.clear()
                self.quoted[value] = quoted
            return quoted
        return kv_value(value)

    def render(self, created: float, level: str, name: str, message: str,
               fields: Iterable[tuple[str, Any]], exc: str | None = None) -> str:
        """One line; ``fields`` are written as given (None values left out)."""
        if self.json:
            out: dict[str, Any] = {"ts": self.timestamp(created), "level": level, "logger": name, "msg": message}
            for key, value in fields:
                if value is not None:
                    out[key] = value
            if exc is not None:
                out["exc"] = exc
            return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        kv, quoted = self.quote, self.quoted
        parts = [f"ts={self.timestamp(created)} level={level} logger={kv(name)} msg={kv(message)}"]
        append = parts.append
        for key, value in fields:
            if value is None:
                continue
            cls = value.__class__
            if cls is bool:
                append(f"{key}=true" if value else f"{key}=false")
            elif cls is int or cls is float:
                append(f"{key}={value!r}")
            else:
                append(f"{key}={quoted.get(value) or kv(value)}" if cls is str else f"{key}={kv(value)}")
        if exc is not None:
            parts.append(f"exc={kv_value(exc)}")
        return " ".join(parts)

    def format(self, record: logging.LogRecord) -> str:
        data = record.__dict__
        ready = data.get(FIELDS_ATTR)
        if ready is not None:  # the access log's: a fixed set of fields, none secret
            message, fields = record.msg, ready
        else:
            message = redact_text(record.getMessage())
            safe = self._safe
            fields = [(k, safe(k, v)) for k, v in data.items() if k not in _STANDARD]
        exc = None
        if record.exc_info:
            exc = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            exc = redact_text(record.exc_text)
        level = _LEVELS.get(record.levelno) or record.levelname.lower()
        return self.render(record.created, level, record.name, message, fields, exc)


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``setup_logging`` installs: records through a ``LineFormatter``,
    and ready-made lines (the access log) without building a ``LogRecord``.

    Access lines written on an event loop are buffered, as nginx's ``access_log
    ... buffer= flush=`` does: written together at most ``FLUSH_AFTER`` seconds
    after the first of them, or at once when ``FLUSH_LINES`` are waiting — one
    write for many requests instead of a system call per line (at concurrency 1
    that was a third of a small request's cost). Any other record, and closing
    the handler, writes them out first, so lines keep their order and none is lost.
    """

    #: The longest an access line waits for its write, in seconds.
    FLUSH_AFTER = 0.1
    #: Pending lines that trigger a write at once (the buffer's bound).
    FLUSH_LINES = 256

    def __init__(self, stream: IO[str], formatter: LineFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self.line_formatter = formatter
        #: Lines, or builders of lines (called at write time): appends are atomic, no lock.
        self._pending: deque[str | Callable[[], str]] = deque()
        self._scheduled_on: Any = None  # the loop a write is scheduled on
        self._timer: asyncio.TimerHandle | None = None

    def emit_line(self, line: str | Callable[[], str]) -> None:
        """Write one line (or what ``line()`` builds): soon, with the others of the next
        ``FLUSH_AFTER`` seconds."""
        pending = self._pending
        pending.append(line)
        if len(pending) >= self.FLUSH_LINES:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._scheduled_on is not loop:  # (a write scheduled on another loop may never run)
            self._scheduled_on = loop
            self._timer = loop.call_later(self.FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        self._scheduled_on = None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        with self.lock:  # type: ignore[union-attr]
            pending = self._pending
            try:
                if pending:
                    taken = [pending.popleft() for _ in range(len(pending))]
                    lines = [item if item.__class__ is str else item() for item in taken]  # type: ignore[operator]
                    lines.append("")
                    self.stream.write("\n".join(lines))
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": "log write failed"}))

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self.flush()
        super().emit(record)


def line_handlers(logger: logging.Logger, level: int) -> list[LineHandler] | None:
    """The handlers a record of ``level`` on ``logger`` would reach, when every one is a
    plain ``LineHandler`` (no filters anywhere): then a line can skip the ``LogRecord``.
    None when some other handler or a filter needs a real record."""
    found: list[LineHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if handler.__class__ is not LineHandler or handler.filters:
                return None
            if level >= handler.level:
                found.append(handler)
        if not current.propagate:
            break
        current = current.parent
    return found


def parse_kv(line: str) -> dict[str, Any]:
    """A ``key=value`` line back into a dict (values as strings; quoted ones unquoted).
    For tests and tools: the inverse of the kv format."""
    out: dict[str, Any] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        eq = line.find("=", i)
        if eq < 0:
            break
        key = line[i:eq]
        i = eq + 1
        if i < n and line[i] == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            out[key] = orjson.loads(line[i:j + 1])
            i = j + 1
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            out[key] = line[i:j]
            i = j
    return out


class LogSetup:
    """What ``setup_logging`` changed; ``close()`` puts the previous handlers and levels back."""

    def __init__(self, handler: logging.Handler, saved: list[tuple[logging.Logger, list[logging.Handler], int, bool]]) -> None:
        self.handler = handler
        self._saved = saved

    def close(self) -> None:
        self.handler.flush()
        for logger, handlers, level, propagate in self._saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        self.handler.close()


def setup_logging(config: LoggingConfig | None = None, level: str | None = None, *,
                  stream: IO[str] | None = None) -> LogSetup:
    """Send every record to ``stream`` (stderr) as one line in ``config.format``.

    Replaces the root logger's handlers; ``level`` (e.g. from ``--log-level``)
    beats ``config.level``; the default is info, so the access log is written.
    uvicorn's loggers lose their own handlers and go through this one.
    """
    config = config or LoggingConfig()
    handler = LineHandler(stream if stream is not None else sys.stderr,
                          LineFormatter(config.format, include_prompts=config.include_prompts))
    root = logging.getLogger()
    uvicorn = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error")]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in (root, *uvicorn)]
    root.handlers[:] = [handler]
    root.setLevel((level or config.level or "info").upper())
    for logger in uvicorn:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    return LogSetup(handler, saved)
