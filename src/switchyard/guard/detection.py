"""Running a policy's detectors over a request's texts: the built-ins in one pass, plugins under a timeout.

The built-in and custom detectors (``Scanner``) see all the texts joined into one,
each separated by a NUL (which no detector's pattern crosses), so a request of fifty
short messages costs one scan, not fifty; findings are mapped back to their text.
Inputs over ``OFF_LOOP`` characters are scanned on a worker thread, so a large prompt
does not stall every other request on the event loop, under the policy's timeout.

A plugin detector (``switchyard.detectors`` entry points, e.g. Presidio) is any object
with ``async detect(texts) -> [[(start, end, category), ...] per text]``; it runs
under the policy's timeout. A detector that raises or times out is a ``DetectorFailed``:
the guard stage fails closed on it (or open, by policy), and says which detector.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from typing import Any, Protocol

from switchyard.guard.scanner import Finding, Scanner

#: Characters above which the built-in scan runs on a worker thread.
OFF_LOOP = 256 * 1024
SEPARATOR = "\x00"


class Detector(Protocol):
    """A plugin detector (see the module docstring)."""

    async def detect(self, texts: Sequence[str]) -> Sequence[Sequence[tuple[int, int, str]]]: ...


class DetectorFailed(Exception):
    """A detector raised or timed out; ``detector`` names it, ``reason`` says how."""

    def __init__(self, detector: str, reason: str, findings: list[list[Finding]] | None = None) -> None:
        super().__init__(f"{detector}: {reason}")
        self.detector = detector
        self.reason = reason
        #: What the other detectors found (for a policy that fails open).
        self.findings = findings


class Detection:
    """One policy's detectors."""

    __slots__ = ("scanner", "plugins", "timeout")

    def __init__(self, scanner: Scanner, plugins: Sequence[tuple[str, Detector]] = (), timeout: float = 1.0) -> None:
        self.scanner = scanner
        self.plugins = tuple(plugins)
        self.timeout = timeout

    async def find(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Per text, its findings (sorted, not overlapping); ``DetectorFailed`` when one detector failed."""
        size = sum(map(len, texts))
        try:
            if size > OFF_LOOP:
                found = await asyncio.wait_for(asyncio.to_thread(self.scan, texts), self.timeout)
            else:
                found = self.scan(texts)
        except TimeoutError:
            raise DetectorFailed("built-in", f"no answer within {self.timeout:g} s") from None
        except Exception as exc:
            raise DetectorFailed("built-in", type(exc).__name__) from None
        for name, plugin in self.plugins:
            try:
                extra = await asyncio.wait_for(plugin.detect(texts), self.timeout)
                _merge(found, extra, len(texts))
            except TimeoutError:
                raise DetectorFailed(name, f"no answer within {self.timeout:g} s", found) from None
            except Exception as exc:
                raise DetectorFailed(name, _reason(exc), found) from None
        return found

    def scan(self, texts: Sequence[str]) -> list[list[Finding]]:
        """The built-in and custom detectors over every text, in one pass."""
        if len(texts) == 1:
            return [self.scanner.scan(texts[0])]
        joined = SEPARATOR.join(texts)
        starts = []
        at = 0
        for text in texts:
            starts.append(at)
            at += len(text) + 1
        out: list[list[Finding]] = [[] for _ in texts]
        for start, end, category in self.scanner.scan(joined):
            index = bisect.bisect_right(starts, start) - 1
            base = starts[index]
            limit = base + len(texts[index])
            if start < limit:
                out[index].append((start - base, min(end, limit) - base, category))
        return out


def _reason(exc: BaseException) -> str:
    return type(exc).__name__


def _merge(found: list[list[Finding]], extra: Any, count: int) -> None:
    """Add a plugin's findings (per text) to the built-ins', keeping them sorted and apart."""
    if not isinstance(extra, (list, tuple)) or len(extra) != count:
        raise TypeError(f"a detector must return one list of findings per text ({count})")
    for index, items in enumerate(extra):
        if not items:
            continue
        mine = found[index]
        for start, end, category in items:
            start, end = int(start), int(end)
            if 0 <= start < end and all(end <= s or start >= e for s, e, _ in mine):
                mine.append((start, end, str(category).lower()))
        mine.sort()
