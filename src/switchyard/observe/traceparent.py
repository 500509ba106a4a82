"""W3C Trace Context: the ``traceparent`` header a client sends and the gateway passes on.

``00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>``; a trace id or
span id of all zeros is invalid, and so is version ``ff``. A later version is read
by its first four fields, as the recommendation asks. Anything else is ignored:
the request starts a trace of its own (never an error for the client).
"""

from __future__ import annotations

_HEX = frozenset("0123456789abcdef")
SAMPLED = 0x01


def parse(value: str | None) -> tuple[bytes, bytes, int] | None:
    """``(trace id: 16 bytes, parent span id: 8 bytes, flags)`` of a ``traceparent`` value, or
    None when invalid."""
    if value is None or len(value) < 55:
        return None
    value = value.strip().lower()
    version = value[:2]
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-" or version == "ff":
        return None
    if version == "00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55] != "-":
        return None
    head = value[:55]
    if not _HEX.issuperset(head.replace("-", "")):
        return None
    trace_id, span_id = bytes.fromhex(head[3:35]), bytes.fromhex(head[36:52])
    if not any(trace_id) or not any(span_id):
        return None
    return trace_id, span_id, int(head[53:55], 16)
