"""Reading what an upstream sent as JSON: strictly for answers, leniently for errors.

An answer that is not a JSON object is a protocol error (the upstream is broken
or not what the deployment says it is). An error body is read leniently: a
proxy's HTML page or an empty 502 still has to become a core error, so a body
that is not JSON is simply ``None`` and the caller falls back to the status.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.core.errors import UpstreamProtocolError


def error_body(raw: bytes) -> Any:
    """An upstream error body as JSON, or None when it is empty or not JSON."""
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def json_value(raw: bytes | str, source: str = "Upstream returned") -> Any:
    """An answer that must be JSON; ``source`` starts the protocol error's message
    (``"Cohere sent"`` -> "Cohere sent a body that is not JSON")."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"{source} a body that is not JSON") from None


def json_object(raw: bytes | str, source: str = "Upstream returned") -> dict[str, Any]:
    """An answer that must be a JSON object (messages as for ``json_value``)."""
    body = json_value(raw, source)
    if not isinstance(body, dict):
        raise UpstreamProtocolError(f"{source} JSON that is not an object")
    return body


def no_headers(name: str) -> None:
    """The header lookup of an error that came without headers (in a body or a stream)."""
    return None
