"""Fault knobs of the mock upstream, and the three ways to select them.

Knobs (the same names everywhere):

    status              answer with this HTTP status and the wire format's error body
    retry_after         seconds for ``Retry-After`` / ``retry-after-ms`` (default 1 on 429)
    latency_ms          wait this long before sending the headers
    chunk_delay_ms      wait this long between streamed chunks
    end_delay_ms        wait this long after a stream's last event before ending its body
                        (the chunked terminator), as an upstream that flushes each event
                        and closes the body a moment later does
    drop_after_chunks   close the socket after N chunks, without the terminating chunk
                        (a non-streamed answer is cut after half its body)
    garbage             answer 200 with a body that is not JSON (an SSE stream whose
                        data is not JSON)
    hang                never answer; the connection stays open until the client leaves
    rpm                 enforce this many requests per minute, refilled continuously as
                        OpenAI documents: ``x-ratelimit-{limit,remaining,reset}-requests``
                        count down, and a request beyond the limit gets 429 (the state is
                        the server's, shared by every request that carries the knob)

Selected, most specific first:

1. per request, by headers ``x-mock-status``, ``x-mock-retry-after``,
   ``x-mock-latency-ms``, ``x-mock-chunk-delay-ms``, ``x-mock-end-delay-ms``, ``x-mock-drop-after-chunks``,
   ``x-mock-garbage: 1``, ``x-mock-hang: 1``, ``x-mock-rpm``;
2. per model name: ``mock-<status>`` (``mock-500``, ``mock-429``, ``mock-503``, ...),
   ``mock-slow`` (1 s before headers), ``mock-hang``, ``mock-drop`` (drop after 3
   chunks), ``mock-garbage``;
3. globally: ``POST /_mock/faults`` with a JSON object of knobs and an optional
   ``count`` (apply to the next N requests only); ``POST /_mock/reset`` clears.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Faults:
    """A set of knobs; ``None`` means "not set here" so sources can be layered."""

    status: int | None = None
    retry_after: float | None = None
    latency_ms: float | None = None
    chunk_delay_ms: float | None = None
    end_delay_ms: float | None = None
    drop_after_chunks: int | None = None
    garbage: bool | None = None
    hang: bool | None = None
    rpm: int | None = None

    def over(self, lower: Faults | None) -> Faults:
        """These knobs, falling back to ``lower``'s where unset."""
        if lower is None:
            return self
        return Faults(
            *(
                mine if mine is not None else getattr(lower, f.name)
                for f in fields(self)
                for mine in (getattr(self, f.name),)
            )
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """From a control-endpoint object; an unknown knob is a ``ValueError``."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown fault knobs: {sorted(unknown)}")
        return cls(**{k: _coerce(k, v) for k, v in data.items() if v is not None})

    @classmethod
    def from_headers(cls, mock_headers: dict[str, str]) -> Faults | None:
        """From ``x-mock-*`` request headers (names lowercased); None when there are none."""
        if not mock_headers:
            return None
        values = {}
        for name, value in mock_headers.items():
            knob = name[len("x-mock-") :].replace("-", "_")
            if knob in _KNOBS:
                values[knob] = _coerce(knob, value)
        return cls(**values) if values else None


_KNOBS = frozenset(f.name for f in fields(Faults))


def _coerce(knob: str, value: Any) -> Any:
    if knob in ("garbage", "hang"):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if knob in ("status", "drop_after_chunks", "rpm"):
        return int(value)
    return float(value)


def faults_for_model(model: str | None) -> Faults | None:
    """The faults a model name selects (see the module docstring), if any."""
    if not model or not model.startswith("mock-"):
        return None
    name = model[5:]
    if name.isdigit() and len(name) == 3:
        status = int(name)
        return Faults(status=status, retry_after=1.0 if status == 429 else None)
    if name == "slow":
        return Faults(latency_ms=1000.0)
    if name == "hang":
        return Faults(hang=True)
    if name == "drop":
        return Faults(drop_after_chunks=3)
    if name == "garbage":
        return Faults(garbage=True)
    return None


class FaultBoard:
    """The global faults set through the control endpoint, with an optional use count."""

    def __init__(self) -> None:
        self._faults: Faults | None = None
        self._remaining: int | None = None

    def set(self, faults: Faults, count: int | None = None) -> None:
        self._faults = faults
        self._remaining = count

    def clear(self) -> None:
        self._faults = None
        self._remaining = None

    @property
    def current(self) -> Faults | None:
        return self._faults

    def take(self) -> Faults | None:
        """The faults for the next request, consuming one use of a counted set."""
        faults = self._faults
        if faults is None:
            return None
        if self._remaining is not None:
            self._remaining -= 1
            if self._remaining <= 0:
                self.clear()
        return faults
