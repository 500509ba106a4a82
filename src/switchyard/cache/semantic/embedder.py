"""Embedders: text in, unit vectors out — and how a blocking model runs off the event loop.

Two embedders ship: ``MiniLMEmbedder`` (``minilm.py``), a small model run on the
CPU from weights installed as a package, and ``AliasEmbedder`` (``alias.py``),
any embedding model the gateway serves, called through its own pipeline.

``ThreadBatcher`` runs a blocking ``encode(texts)`` in one worker thread of its
own. Texts that arrive while the worker is busy wait in a bounded queue and go
together in its next batch (one forward pass over a batch costs little more
than over one text: the weights are read once). A full queue refuses at once
(``EmbedderBusy``): the semantic cache then bypasses rather than make requests wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class EmbedderUnavailable(Exception):
    """The embedder cannot answer now (it failed, or it is busy): the cache bypasses."""


class EmbedderBusy(EmbedderUnavailable):
    """The embedder's queue is full."""


class Embedder(Protocol):
    """Texts -> unit vectors."""

    #: Names the vector space: entries embedded by another embedder never match (it is in the context).
    name: str

    async def embed(self, texts: Sequence[str]) -> list[Vector | None]:
        """One unit float32 vector per text; None for a text it cannot embed whole (too long for
        the model). Raises ``EmbedderUnavailable`` when it cannot answer now."""
        ...

    async def aclose(self) -> None: ...


def unit(vector: Sequence[float] | npt.NDArray[np.floating]) -> Vector:
    """``vector`` as float32 scaled to length 1 (a zero vector stays zero)."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


Result = Vector | None
Waiter = tuple[list[str], "asyncio.Future[list[Result]]"]


class ThreadBatcher:
    """Runs ``encode`` in one worker thread, batching the texts that arrive while it works.

    ``max_batch``: texts per call of ``encode``; ``max_pending``: texts waiting at most
    (beyond: ``EmbedderBusy``).
    """

    def __init__(self, encode: Callable[[list[str]], list[Result]], *, max_batch: int = 16,
                 max_pending: int = 256, name: str = "switchyard-embed") -> None:
        self.encode = encode
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._waiting: deque[Waiter] = deque()
        self._pending = 0
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def run(self, texts: Sequence[str]) -> list[Result]:
        """``encode(texts)``, in the worker thread, possibly batched with others."""
        if self._closed:
            raise EmbedderUnavailable("the embedder is closed")
        if self._pending + len(texts) > self.max_pending:
            raise EmbedderBusy(f"{self._pending} texts already wait for the embedder")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Result]] = loop.create_future()
        self._waiting.append((list(texts), future))
        self._pending += len(texts)
        if self._worker is None:
            self._worker = loop.create_task(self._work(), name="switchyard-embed-batches")
        return await future

    async def call(self, work: Callable[[], object]) -> object:
        """Run ``work()`` in the worker thread (e.g. loading a model) between batches."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch: list[Waiter] = []
                texts: list[str] = []
                while self._waiting and (not batch or len(texts) + len(self._waiting[0][0]) <= self.max_batch):
                    waiter = self._waiting.popleft()
                    batch.append(waiter)
                    texts.extend(waiter[0])
                self._pending -= len(texts)
                live = [w for w in batch if not w[1].done()]  # a caller that gave up is not embedded
                if not live:
                    continue
                texts = [t for w in live for t in w[0]]
                try:
                    results = await loop.run_in_executor(self._executor, self.encode, texts)
                except Exception as exc:
                    for _, future in live:
                        if not future.done():
                            future.set_exception(EmbedderUnavailable(f"the embedder failed: {exc}"))
                    continue
                start = 0
                for own, future in live:
                    if not future.done():
                        future.set_result(results[start:start + len(own)])
                    start += len(own)
        finally:
            self._worker = None

    async def aclose(self) -> None:
        self._closed = True
        for _, future in self._waiting:
            if not future.done():
                future.set_exception(EmbedderUnavailable("the embedder is closed"))
        self._waiting.clear()
        worker = self._worker
        if worker is not None:
            await asyncio.gather(worker, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
