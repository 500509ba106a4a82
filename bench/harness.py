"""What every benchmark section shares: the running processes, options, and result rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Context:
    """The environment a section runs in (built by ``bench.run``)."""

    mock_url: str
    gateway_url: str | None
    gateway_pid: int | None
    master_key: str
    model: str
    duration: float
    warmup: float
    max_requests: int
    concurrencies: tuple[int, ...]
    workdir: Path
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Row:
    """One measured cell; times in milliseconds, ``None`` where it does not apply."""

    section: str
    target: str
    mode: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    ok: int = 0
    errors: int = 0
    error_sample: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Figure:
    """A single figure checked against a target (e.g. idle RSS)."""

    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SectionResult:
    rows: list[Row] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


Section = Callable[[Context], SectionResult]
"""A benchmark section: measures something given the context. Add new ones to ``bench.run.SECTIONS``."""
