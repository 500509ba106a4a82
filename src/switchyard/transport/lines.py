"""Newline-delimited JSON (Ollama's streams): bytes in any split, complete lines out."""

from __future__ import annotations


class LineDecoder:
    """Split a byte stream into lines; ``\\r\\n`` is accepted, blank lines are skipped."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete, non-blank lines ``chunk`` finishes (without their line ending)."""
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._buf = buf
            return []
        self._buf = buf[cut + 1 :]
        return [line.rstrip(b"\r") for line in buf[:cut].split(b"\n") if line.strip()]

    def flush(self) -> list[bytes]:
        """The final line when the stream ended without a newline."""
        rest, self._buf = self._buf.strip(), b""
        return [rest] if rest else []
