"""Request ids: ``req_`` + a random prefix chosen once + a counter.

Unique within a process (the counter) and across processes and restarts (48
random bits drawn at start); not secret, so they need no randomness per
request: a system call per request measurably costs on a busy gateway.
"""

from __future__ import annotations

import itertools
import os


class RequestIds:
    """``ids()`` -> ``req_3f9a1c0b77e2000000000001``, ``req_3f9a1c0b77e2000000000002``, ..."""

    __slots__ = ("_prefix", "_next")

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(6).hex()
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():012x}"
