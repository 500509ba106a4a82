"""Reading how long an upstream asks us to wait, from its response headers."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_duration(text: str) -> float | None:
    """OpenAI's reset format (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``) or plain seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_retry_after(
    get: Callable[[str], str | None], status: int | None = None, now: float | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date),
    or — for a 429 (or when ``status`` is unknown) — the rate-limit reset headers;
    None when the upstream said nothing. Reset headers ride on every response, so on
    a 500 they are no hint to wait."""
    value = get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if "," in value else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))
    if status is not None and status != 429:
        return None
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "anthropic-ratelimit-requests-reset"):
        value = get(name)
        if value:
            seconds = parse_duration(value)
            if seconds is not None:
                return seconds
    return None
