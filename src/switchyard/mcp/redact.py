"""Tool arguments as the audit log keeps them: secrets blanked, the whole bounded.

The log's own rules (``observe/logs.py``): a field named like a secret
(``api_key``, ``password``, ``*_token``...) is ``[redacted]`` whatever it holds;
bearer tokens and ``sk-...`` keys are blanked out of any string.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.observe.logs import REDACTED, is_secret_field, redact_text

#: Bytes of redacted arguments kept in an audit entry; past it, a note of the size instead.
MAX_AUDITED_BYTES = 4096
_MAX_DEPTH = 16


def redact(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, dict):
        return {str(k): REDACTED if is_secret_field(str(k)) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def audited_arguments(arguments: dict[str, Any] | None) -> Any:
    """What the audit entry keeps of a call's arguments."""
    if not arguments:
        return {}
    clean = redact(arguments)
    size = len(orjson.dumps(clean, default=str))
    if size > MAX_AUDITED_BYTES:
        return {"truncated": True, "bytes": size, "fields": sorted(clean)[:64]}
    return clean
