"""What the client asks of the cache: its ``Cache-Control`` request header.

=================  =========================================================
``no-cache``       do not answer from the cache (the answer may be kept)
``no-store``       do not keep this answer
``max-age=N``      answer from the cache only with an entry at most N seconds
                   old (``max-age=0`` is ``no-cache``)
=================  =========================================================

Directives are comma-separated and case-insensitive; others (``private``,
``no-transform``...) are ignored, as HTTP caches ignore what they do not use.
A ``max-age`` that is not a whole number of seconds is a 400 naming the header.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.core.errors import InvalidRequest

HEADER = "cache-control"


@dataclass(frozen=True, slots=True)
class Directives:
    no_cache: bool = False
    no_store: bool = False
    max_age: int | None = None


#: No header: look up and keep.
DEFAULT = Directives()


def directives(headers: dict[str, str]) -> Directives:
    """The directives of ``headers`` (``DEFAULT`` without the header)."""
    value = headers.get(HEADER)
    if not value:
        return DEFAULT
    no_cache = no_store = False
    max_age: int | None = None
    for part in value.lower().split(","):
        name, _, argument = part.strip().partition("=")
        name = name.strip()
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age":
            text = argument.strip().strip('"')
            if not text.isdigit():
                raise InvalidRequest(f"Header cache-control: max-age must be a whole number of seconds, not "
                                     f"{argument.strip()[:40]!r}.", param=HEADER, code="invalid_cache_control")
            max_age = int(text)
    if max_age == 0:
        no_cache = True
    return Directives(no_cache, no_store, max_age)
