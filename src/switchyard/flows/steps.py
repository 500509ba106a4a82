"""The steps a YAML flow names (``step: NAME``): tools, database operations, components.

Built-ins below; packages add theirs in the ``switchyard.flow_steps`` entry-point group
(``retrieve = "my_components.flows:retrieve"``); a flow may register its own with its
top-level ``register: {name: "module:function"}``. A step is a function (sync or async) called
with the step's ``with:`` as keyword arguments; its return value is journaled (picklable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from switchyard.core.registry import Plugins, UnknownPlugin

FLOW_STEPS_GROUP = "switchyard.flow_steps"

#: The most files and bytes ``read_folder`` reads (a fan-out source must be bounded).
MAX_FILES, MAX_FILE_BYTES = 1000, 1_000_000

BUILTIN_STEPS: dict[str, str] = {
    "echo": "switchyard.flows.steps:echo",
    "lines": "switchyard.flows.steps:lines",
    "join": "switchyard.flows.steps:join",
    "read_folder": "switchyard.flows.steps:read_folder",
    "count_words": "switchyard.flows.steps:count_words",
}


class UnknownStep(UnknownPlugin):
    code = "unknown_step"


class FlowSteps(Plugins):
    """Step names to functions (``switchyard.flow_steps``)."""

    kind = "step"
    error = UnknownStep
    param = "step"

    def __init__(self, extra: dict[str, str | Any] | None = None, *, use_entry_points: bool = True) -> None:
        super().__init__(FLOW_STEPS_GROUP, BUILTIN_STEPS, extra, use_entry_points=use_entry_points)


def echo(**values: Any) -> Any:
    """Its arguments back (one argument: its value)."""
    return next(iter(values.values())) if len(values) == 1 else values


def lines(text: str, limit: int = 100) -> list[str]:
    """The non-empty lines of ``text`` (bullets and numbering stripped), at most ``limit``."""
    out = [line.strip().lstrip("-*0123456789.) ").strip() for line in str(text).splitlines()]
    return [line for line in out if line][:limit]


def join(items: list[Any], separator: str = "\n") -> str:
    return separator.join(str(item) for item in items)


def count_words(text: str) -> int:
    return len(str(text).split())


def read_folder(path: str, pattern: str = "*.txt") -> list[dict[str, str]]:
    """``{"name", "text"}`` of each file matching ``pattern`` in ``path``, sorted by name
    (at most 1000 files of 1 MB each)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"read_folder: {path!r} is not a folder")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(files) > MAX_FILES:
        raise ValueError(f"read_folder: {len(files)} files in {path!r}, more than {MAX_FILES}")
    out = []
    for file in files:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"read_folder: {file.name} is larger than {MAX_FILE_BYTES} bytes")
        out.append({"name": file.name, "text": file.read_text(encoding="utf-8", errors="replace")})
    return out
