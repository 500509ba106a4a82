"""``BatchService``: the Files and Batches API of one gateway (or ``switchyard worker``) process.

Built by ``Services.start`` when the config has a ``batch:`` section, over the durable store's
database. Commands (upload, create, cancel, delete) go to the write model (``store.py``,
``files.py``); reads of batches go to the read model (``projections/batch_view.py``), after
letting the projector apply what this process just wrote. What runs the lines:

* without ``redis:`` — a ``Worker`` over ``embedded.DatabaseChunks`` in each gateway process;
* with it — chunks go into a Redis stream (``streams.py``) as batches are created, and
  ``switchyard worker`` processes (and gateway processes, unless ``batch.in_gateway: false``)
  consume it;

and, in one process at a time (a lease in the durable store), the ``Sweeper``: batches that
expired, cancellations to finish, provider batches to submit and poll, work to put back after
Redis lost it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from switchyard.batch.embedded import DatabaseChunks
from switchyard.batch.files import FileStore
from switchyard.batch.lines import Checked, check_lines
from switchyard.batch.native import NativeBatches
from switchyard.batch.runner import LineRunner
from switchyard.batch.shapes import new_id
from switchyard.batch.store import BatchStore
from switchyard.batch.streams import StreamChunks, StreamQueue
from switchyard.batch.sweeper import Sweeper
from switchyard.batch.worker import Worker
from switchyard.core.config import Config
from switchyard.core.config.batch import ENDPOINTS, BatchConfig
from switchyard.core.errors import Conflict, InvalidRequest, NotFound, RateLimited
from switchyard.projections.batch_view import BatchView

log = logging.getLogger("switchyard.batch")

MAX_METADATA = 16


class BatchService:
    """See the module docstring. ``start()`` after the rest of the services; ``aclose()`` before them."""

    def __init__(self, config: Config, *, durable: Any, shared: Any, pipeline: Any, catalog: Any, auth: Any,
                 projector: Any, view: BatchView, spend: Any = None, worker_only: bool = False) -> None:
        settings = config.batch
        assert settings is not None
        self.config = config
        self.settings: BatchConfig = settings
        self.engine = durable.engine
        self.kv = durable.kv
        self.files = FileStore(self.engine)
        self.store = BatchStore(self.engine)
        self.catalog = catalog
        self.auth = auth
        self.projector = projector
        self.view = view
        self.runner = LineRunner(pipeline, config, attempts=settings.attempts, max_retry_wait=settings.max_retry_wait)
        self.redis = config.redis
        self.queue = StreamQueue(shared.client, shared.prefix) if self.redis is not None else None
        self.workers: list[Worker] = []
        self.embedded: DatabaseChunks | None = None
        self.sweeper: Sweeper | None = None
        self.worker_only = worker_only
        self.native = NativeBatches(self.store, catalog, auth=auth, spend=spend,
                                    interval=settings.native_poll_interval)
        if self.redis is not None and (worker_only or settings.in_gateway):
            self.workers.append(self._stream_worker(shared.prefix))
        elif self.redis is None and not worker_only:
            self.embedded = DatabaseChunks(self.store, self.kv, chunk_lines=settings.chunk_lines, lease=settings.lease)
            self.workers.append(self._worker(self.embedded, "embedded"))
        if not worker_only:
            self.sweeper = Sweeper(self.store, self.kv, settings, queue=self.queue, native=self.native)

    def _worker(self, source: Any, name: str) -> Worker:
        s = self.settings
        return Worker(self.store, self.runner, source, self.auth, concurrency=s.concurrency,
                      chunk_lines=s.chunk_lines, lease=s.lease, name=name)

    def _stream_worker(self, prefix: str) -> Worker:
        import redis.asyncio as aioredis

        assert self.redis is not None
        client = aioredis.Redis.from_url(self.redis.url.get_secret_value(),
                                         socket_connect_timeout=self.redis.connect_timeout, socket_timeout=10.0)
        return self._worker(StreamChunks(client, prefix, lease=self.settings.lease), "stream")

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        if self.sweeper is not None:
            self.sweeper.start()

    async def aclose(self) -> None:
        if self.sweeper is not None:
            await self.sweeper.aclose()
        for worker in self.workers:
            await worker.aclose()

    # -- files -------------------------------------------------------------------------------------
    def _visible(self, owner: str, caller: Any) -> bool:
        return bool(caller.is_master or owner == self.auth.identity(caller))

    async def upload(self, caller: Any, purpose: str, filename: str, content: bytes) -> Any:
        return await self.files.create(self.auth.identity(caller), purpose, filename, content)

    async def file(self, caller: Any, file_id: str) -> Any:
        row = await self.files.get(file_id)
        if row is None or not self._visible(row.owner, caller):
            raise NotFound(f"No such file: {file_id[:100]}", param="file_id", code="file_not_found")
        return row

    async def list_files(self, caller: Any, *, purpose: str | None, after: str | None, limit: int,
                         ascending: bool) -> list[Any]:
        owner = None if caller.is_master else self.auth.identity(caller)
        return await self.files.list(owner, purpose=purpose, after=after, limit=limit, ascending=ascending)

    async def delete_file(self, caller: Any, file_id: str) -> None:
        await self.file(caller, file_id)
        await self.files.delete(file_id)

    async def content(self, caller: Any, file_id: str) -> bytes | AsyncIterator[bytes]:
        """An upload's bytes, or a batch file's lines as they are read."""
        row = await self.file(caller, file_id)
        if row.batch_id is not None:
            return self.files.results(row.batch_id, row.kind == "output")
        return await self.files.content(file_id) or b""

    # -- batches -----------------------------------------------------------------------------------
    async def create(self, caller: Any, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/batches``: the lines checked, the batch written, its work queued."""
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise InvalidRequest(f"endpoint must be one of {', '.join(ENDPOINTS)}.", param="endpoint",
                                 code="invalid_value")
        if body.get("completion_window") != "24h":
            raise InvalidRequest("completion_window must be \"24h\".", param="completion_window",
                                 code="invalid_value")
        metadata = _metadata(body.get("metadata"))
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str):
            raise InvalidRequest("input_file_id must be the id of an uploaded file.", param="input_file_id",
                                 code="invalid_value")
        row = await self.file(caller, file_id)
        if row.purpose != "batch":
            raise InvalidRequest(f"File {file_id} has purpose {row.purpose!r}; a batch's input needs \"batch\".",
                                 param="input_file_id", code="invalid_value")
        if caller.routes is not None:
            caller.check_route(endpoint)
        if await self.store.count_running() >= self.settings.max_active:
            raise RateLimited(f"{self.settings.max_active} batches are in progress (batch.max_active); try again "
                              "when one has finished.", code="too_many_batches", retry_after=60)
        content = await self.files.content(file_id) or b""
        try:
            checked = check_lines(content, endpoint, self._resolver(caller), max_lines=self.settings.max_lines)
        except ValueError as exc:
            raise InvalidRequest(f"File {file_id}: {exc}.", param="input_file_id", code="invalid_value") from None
        mode, alias, discount = self._mode(checked)
        if mode == "native" and alias is not None:
            self.native.check(alias, endpoint)
        now = time.time()
        doc = {"id": new_id("batch_"), "object": "batch", "endpoint": endpoint, "errors": None,
               "input_file_id": file_id, "completion_window": "24h", "status": "in_progress",
               "output_file_id": None, "error_file_id": None, "created_at": int(now), "in_progress_at": int(now),
               "expires_at": int(now + self.settings.completion_window), "finalizing_at": None, "completed_at": None,
               "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
               "request_counts": {"total": checked.total, "completed": 0, "failed": len(checked.refused)},
               "metadata": metadata, "model": alias,
               "usage": {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
                         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}}
        await self.store.create(dict(doc), owner=self.auth.identity(caller), checked=checked, mode=mode, alias=alias,
                                discount=discount)
        await self._queue_work(doc["id"], mode, bool(checked.lines))
        self.projector.wake()
        await self.projector.sync()
        shown = await self.view.get(doc["id"])
        return shown[1] if shown is not None else doc

    def _resolver(self, caller: Any) -> Any:
        def resolve(model: str) -> str:
            group = self.catalog.resolve(model)
            caller.check_model(group.alias)
            return str(group.alias)
        return resolve

    def _mode(self, checked: Checked) -> tuple[str, str | None, bool]:
        """How the batch runs: natively when the (single) alias of its lines says so."""
        aliases = checked.aliases()
        alias = next(iter(aliases)) if len(aliases) == 1 else None
        if alias is None:
            return "gateway", None, False
        settings = self.catalog.resolve(alias).config.batch
        return settings.mode, alias, settings.discounted

    async def _queue_work(self, batch_id: str, mode: str, runnable: bool) -> None:
        if mode != "gateway" or not runnable:
            return
        if self.queue is not None:
            try:
                epoch = await self.queue.epoch()
                await self.queue.enqueue(batch_id, await self.store.chunks(batch_id, self.settings.chunk_lines))
                await self.store.mark_enqueued(batch_id, epoch)
            except Exception as exc:  # Redis away: the sweeper puts the work in when it is back
                log.warning("batch_enqueue_failed", extra={"batch": batch_id, "error": type(exc).__name__})
        elif self.embedded is not None:
            self.embedded.wake()

    async def batch(self, caller: Any, batch_id: str) -> dict[str, Any]:
        """``GET /v1/batches/{id}``, from the read model."""
        found = await self.view.get(batch_id)
        if found is None:
            await self.projector.sync()  # created an instant ago by this process?
            found = await self.view.get(batch_id)
        if found is None or not self._visible(found[0], caller):
            raise NotFound(f"No such batch: {batch_id[:100]}", param="batch_id", code="batch_not_found")
        return found[1]

    async def list_batches(self, caller: Any, *, after: str | None, limit: int) -> dict[str, Any]:
        owner = None if caller.is_master else self.auth.identity(caller)
        await self.projector.sync()
        data, more = await self.view.page(owner, after, limit)
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": more}

    async def cancel(self, caller: Any, batch_id: str) -> dict[str, Any]:
        await self.batch(caller, batch_id)  # visible to this caller, or 404
        before = await self.store.cancel(batch_id)
        if before not in ("in_progress", "cancelling"):
            raise Conflict(f"Batch {batch_id} is {before}: only a batch in progress can be cancelled.",
                           code="batch_not_cancellable")
        self.projector.wake()
        await self.projector.sync()
        return await self.batch(caller, batch_id)


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) > MAX_METADATA
            or any(not isinstance(k, str) or len(k) > 64 or not isinstance(v, str) or len(v) > 512
                   for k, v in value.items())):
        raise InvalidRequest(f"metadata must be an object of at most {MAX_METADATA} string values (keys up to 64 "
                             "characters, values up to 512).", param="metadata", code="invalid_value")
    return dict(value)
