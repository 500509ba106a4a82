"""The access log: one line per request, at info level, written when the answer is done.

The server calls ``AccessLog.write`` once per request — after the body of a
plain answer, after the last frame of a stream (or its error event, or the
client going away). The line's fields, in order (a field whose value is not
known is left out; ``cache``, ``fallback`` and ``stream`` are always there)::

    request_id method path status latency_ms key_name alias route deployment
    fallback fallback_alias attempts prompt_tokens completion_tokens total_tokens
    cache stream outcome error error_status messages

``key_name`` is the name of the caller's key, never the key; no header value
and no message text is ever written, except ``messages`` (the request's
messages, cut to ``prompt_max_chars``) with ``include_prompts: true``.

What the pipeline knows (alias, deployment, attempts, usage) is read from the
request's ``Call`` when the handler linked it (``request.call = call``); until
then the deployment and fallback come from the ``x-switchyard-*`` response
headers and the attempts from a ``FallbackExhausted`` error.
"""

from __future__ import annotations

import logging
from functools import partial
from time import perf_counter, time
from typing import Any

import orjson

from switchyard.core.config.logging import LoggingConfig
from switchyard.core.errors import FallbackExhausted, SwitchyardError
from switchyard.observe.logs import FIELDS_ATTR, kv_value, line_handlers

ACCESS_LOGGER = "switchyard.access"
INFO = logging.INFO

#: Every field an access line can carry, in order (tests check none is secret-named).
FIELDS = ("request_id", "method", "path", "status", "latency_ms", "key_name", "alias", "route", "deployment",
          "fallback", "fallback_alias", "attempts", "prompt_tokens", "completion_tokens", "total_tokens",
          "cache", "stream", "outcome", "error", "error_status", "messages")

_DEPLOYMENT = b"x-switchyard-deployment"
_FALLBACK = b"x-switchyard-fallback"
_ROUTE = b"x-switchyard-route"
_SKIPPED = "fallback_not_allowed"  # a fallback the key may not use: recorded, never tried
_PROMPT_KEYS = ("system", "messages", "prompt", "input")


class AccessLog:
    """Writes the access line of each request to the ``switchyard.access`` logger."""

    __slots__ = ("logger", "enabled", "include_prompts", "prompt_max_chars", "_segments")

    #: Distinct segment sets kept (each a few hundred bytes); past it the cache starts over.
    SEGMENTS_MAX = 4096

    def __init__(self, config: LoggingConfig | None = None, logger: logging.Logger | None = None) -> None:
        config = config or LoggingConfig()
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.enabled = config.access_log
        self.include_prompts = config.include_prompts
        self.prompt_max_chars = config.prompt_max_chars
        # The kv line's fields that repeat from request to request (method, path, status,
        # key, alias, deployment, outcome...), rendered once per distinct set: a line is
        # then the timestamp, the request id, the latency and the tokens around them.
        self._segments: dict[tuple[Any, ...], tuple[str, str, str]] = {}

    def write(
        self,
        method: str,
        path: str,
        request_id: str,
        request: Any,
        status: int,
        started: float,
        error: BaseException | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        stream: bool = False,
        outcome: str | None = None,
    ) -> None:
        """The line for one finished request. ``request`` is the server's ``Request``
        (None when the request failed before one was made: an unknown path);
        ``started`` its ``perf_counter()`` start; ``headers`` the response's own."""
        logger = self.logger
        if not self.enabled or not logger.isEnabledFor(INFO):
            return
        latency = (perf_counter() - started) * 1000.0  # rounded when the line is built
        call = caller = None
        if request is not None:
            call, caller = request.call, request.caller
        alias = route = deployment = fallback_alias = attempts = usage = None
        cache = False
        if call is not None:
            alias, usage, cache = call.alias, call.usage, call.cached
            taken = call.route
            route, deployment, fallback_alias = taken.get("route"), taken.get("deployment"), taken.get("fallback")
            tried = call.attempts
            attempts = (sum(1 for a in tried if getattr(getattr(a, "error", None), "code", None) != _SKIPPED)
                        if tried else 0)
            if deployment is not None:
                attempts += 1
            elif tried:
                deployment = tried[-1].deployment
        else:
            if headers:
                for name, value in headers:
                    if name == _DEPLOYMENT:
                        deployment = value.decode("latin-1")
                    elif name == _FALLBACK:
                        fallback_alias = value.decode("latin-1")
                    elif name == _ROUTE:
                        route = value.decode("latin-1")
            if isinstance(error, FallbackExhausted) and error.attempts:
                attempts = len(error.attempts)
                deployment = error.attempts[-1][0]
        if route == alias:
            route = None
        code = error_status = None
        if error is not None:
            if isinstance(error, SwitchyardError):
                code, error_status = error.code or error.type, error.status
            else:
                code, error_status = "internal_error", 500
        key_name = caller.name if caller is not None else None
        if error_status == status:
            error_status = None
        messages = None
        if self.include_prompts and request is not None and request.body:
            # The call's request, when there is one: what the pipeline let through (the guard's masked
            # text, never the client's raw values); else the body as it came.
            asked = getattr(call, "request", None)
            native = getattr(asked, "native", None)
            body = native[1] if native is not None else getattr(asked, "body", None)
            messages = self.prompt_text(body if isinstance(body, dict) else request.body)
        handlers = line_handlers(logger, INFO)
        if handlers is None:  # a handler or filter of someone else's: it gets a real record
            fields = [("request_id", request_id), ("method", method), ("path", path), ("status", status),
                      ("latency_ms", round(latency, 2)), ("key_name", key_name), ("alias", alias), ("route", route),
                      ("deployment", deployment), ("fallback", fallback_alias is not None),
                      ("fallback_alias", fallback_alias), ("attempts", attempts)]
            if usage is not None:
                fields += (("prompt_tokens", usage.prompt_tokens), ("completion_tokens", usage.completion_tokens),
                           ("total_tokens", usage.total_tokens))
            fields += (("cache", cache), ("stream", stream), ("outcome", outcome), ("error", code),
                       ("error_status", error_status), ("messages", messages))
            record = logger.makeRecord(ACCESS_LOGGER, INFO, "", 0, "request", (), None, None, {FIELDS_ATTR: fields})
            logger.handle(record)
            return
        # The usual case — setup_logging's handler only: no LogRecord. A kv line is put
        # together from segments rendered once per distinct set of repeating fields; a
        # JSON one is built later, with the others of the handler's next write.
        created = time()
        segments = None
        for handler in handlers:
            formatter = handler.line_formatter
            if formatter.json:
                handler.emit_line(partial(_json_line, formatter, created, request_id, method, path, status,
                                          latency, key_name, alias, route, deployment, fallback_alias, attempts,
                                          usage, cache, stream, outcome, code, error_status, messages))
                continue
            if segments is None:
                key = (method, path, status, key_name, alias, route, deployment, fallback_alias, attempts, cache,
                       stream, outcome, code, error_status)
                segments = self._segments.get(key)
                if segments is None:
                    segments = self._render_segments(key)
            head, middle, tail = segments
            handler.emit_line(
                f"ts={formatter.timestamp(created)} level=info logger={ACCESS_LOGGER} msg=request request_id="
                f"{request_id if request_id.isidentifier() else kv_value(request_id)} {head} latency_ms={latency:.2f}"
                f"{middle}"
                f"{'' if usage is None else f' prompt_tokens={usage.prompt_tokens} completion_tokens={usage.completion_tokens} total_tokens={usage.prompt_tokens + usage.completion_tokens}'}"
                f"{tail}{'' if messages is None else ' messages=' + kv_value(messages)}")

    def _render_segments(self, key: tuple[Any, ...]) -> tuple[str, str, str]:
        """The kv renderings of a line's repeating fields: before the latency, between
        it and the tokens, after the tokens."""
        (method, path, status, key_name, alias, route, deployment, fallback_alias, attempts, cache, stream,
         outcome, code, error_status) = key
        q = kv_value
        head = f"method={q(method)} path={q(path)} status={status}"
        middle = (
            f"{'' if key_name is None else ' key_name=' + q(key_name)}"
            f"{'' if alias is None else ' alias=' + q(alias)}"
            f"{'' if route is None else ' route=' + q(route)}"
            f"{'' if deployment is None else ' deployment=' + q(deployment)}"
            f"{' fallback=false' if fallback_alias is None else ' fallback=true fallback_alias=' + q(fallback_alias)}"
            f"{'' if attempts is None else f' attempts={attempts}'}"
        )
        tail = (
            f"{' cache=true' if cache else ' cache=false'}{' stream=true' if stream else ' stream=false'}"
            f"{'' if outcome is None else ' outcome=' + outcome}"
            f"{'' if code is None else ' error=' + q(code)}"
            f"{'' if error_status is None else f' error_status={error_status}'}"
        )
        segments = self._segments
        if len(segments) >= self.SEGMENTS_MAX:
            segments.clear()
        rendered = segments[key] = (head, middle, tail)
        return rendered

    def prompt_text(self, body: bytes | dict[str, Any]) -> str | None:
        """The request's messages (system, messages, prompt or input) as JSON, cut short."""
        try:
            data = body if isinstance(body, dict) else orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        picked = {k: data[k] for k in _PROMPT_KEYS if k in data}
        if not picked:
            return None
        text = orjson.dumps(picked).decode()
        limit = self.prompt_max_chars
        return text if len(text) <= limit else text[:limit] + "…"


def _json_line(formatter: Any, created: float, request_id: str, method: str, path: str, status: int,
               latency: float, key_name: str | None, alias: str | None, route: str | None, deployment: str | None,
               fallback_alias: str | None, attempts: int | None, usage: Any, cache: bool, stream: bool,
               outcome: str | None, code: str | None, error_status: int | None, messages: str | None) -> str:
    """One access line in JSON."""
    stamp = formatter.timestamp(created)
    out: dict[str, Any] = {"ts": stamp, "level": "info", "logger": ACCESS_LOGGER, "msg": "request",
                           "request_id": request_id, "method": method, "path": path,
                           "status": status, "latency_ms": round(latency, 2)}
    if key_name is not None:
        out["key_name"] = key_name
    if alias is not None:
        out["alias"] = alias
    if route is not None:
        out["route"] = route
    if deployment is not None:
        out["deployment"] = deployment
    out["fallback"] = fallback_alias is not None
    if fallback_alias is not None:
        out["fallback_alias"] = fallback_alias
    if attempts is not None:
        out["attempts"] = attempts
    if usage is not None:
        out["prompt_tokens"] = usage.prompt_tokens
        out["completion_tokens"] = usage.completion_tokens
        out["total_tokens"] = usage.total_tokens
    out["cache"] = cache
    out["stream"] = stream
    if outcome is not None:
        out["outcome"] = outcome
    if code is not None:
        out["error"] = code
    if error_status is not None:
        out["error_status"] = error_status
    if messages is not None:
        out["messages"] = messages
    line = orjson.dumps(out, default=str).decode()
    return line
