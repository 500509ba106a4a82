"""``FlowEngine``: registers flows, owns DBOS in this process, starts and watches runs.

DBOS Transact is a process-wide singleton (``DBOS(config)`` then ``DBOS.launch()``): the
engine is its one owner here — it builds it on ``open`` (inside the running event loop, so
recovered and queued runs run on that loop, beside the engine's ``AsyncClient``) and destroys
it on ``close``; a second open engine in the same process is refused. Two DBOS workflows carry
every flow: ``switchyard.flow`` (a run: a registered flow by name, or a YAML flow's
definition, carried in the run's input so any process can resume it) and
``switchyard.branch`` (a child run: a branch function by ``module:qualname``, a YAML node, or
another flow).

Scale-out: give every process the same PostgreSQL URL and ``queue=True`` to ``start``; each
engine opened with ``worker_concurrency`` > 0 takes queued runs (DBOS's queue on PostgreSQL,
no scheduler of ours). A process killed mid-run is recovered from the journal when an engine
with the same ``executor_id`` opens again (DBOS recovery), or by ``resume``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dbos._dbos as dbos_module
from dbos import DBOS, SetWorkflowID

from switchyard.client import AsyncClient, ConfigSource
from switchyard.flows.database import JournalDatabase
from switchyard.flows.errors import FlowError, FlowNotFound, LimitReached
from switchyard.flows.events import emit
from switchyard.flows.limits import Limits, Totals
from switchyard.flows.outcome import RunOutcome, RunStatus
from switchyard.flows.payloads import DEFAULT_THRESHOLD, PayloadStore
from switchyard.flows.run import Run, resolve_branch
from switchyard.flows.runs import Runs
from switchyard.flows.steps import FlowSteps

FlowFunction = Callable[[Run, Any], Awaitable[Any]]

#: DBOS's application version: fixed, so runs started by an older build of the code are
#: recovered by a newer one (the flows are resolved by name at run time).
log = logging.getLogger("switchyard.flows")

APPLICATION_VERSION = "switchyard-flows-1"
#: Runs whose ``on_finished`` may be pending at once (past it, a run's is skipped).
MAX_AFTER = 1000
QUEUE = "switchyard-flows"
WORKFLOW, BRANCH = "switchyard.flow", "switchyard.branch"


async def _listening(limit: float = 3.0) -> None:
    """Until DBOS's queue manager runs the queue's thread here (it looks for new queues once a
    second): an open worker takes queued runs from then on."""
    name, deadline = f"queue-worker-{QUEUE}", time.monotonic() + limit
    while not any(thread.name == name for thread in threading.enumerate()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


class RunHandle:
    """A started run: its id, and its outcome once it ends."""

    def __init__(self, engine: FlowEngine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    async def outcome(self, timeout: float | None = None) -> RunOutcome:
        return await self.engine.outcome(self.run_id, timeout=timeout)

    async def status(self) -> RunStatus:
        return await self.engine.status(self.run_id)

    def events(self) -> AsyncIterator[dict[str, Any]]:
        return self.engine.events(self.run_id)


class FlowEngine:
    """Durable flows over one journal database (``sqlite:///…`` or ``postgresql://…``)."""

    def __init__(self, url: str = "sqlite:///switchyard-flows.db", *, client: AsyncClient | None = None,
                 config: ConfigSource = None, executor_id: str = "local", worker_concurrency: int = 0,
                 payload_threshold: int = DEFAULT_THRESHOLD, steps: FlowSteps | None = None,
                 definitions: dict[str, dict[str, Any]] | None = None, step_events: bool = True,
                 on_finished: Callable[[str], Awaitable[None]] | None = None) -> None:
        if worker_concurrency < 0:
            raise FlowError("worker_concurrency must be 0 or more")
        self.database = JournalDatabase.parse(url)
        self._client = client
        self._owns_client = client is None
        self._config = config
        self.executor_id = executor_id
        #: Steps write step.started / step.finished / step.retry to the run's stream (two commits a
        #: step); off, the stream has the run's own events only (started, waits, finished).
        self.step_events = step_events
        self.worker_concurrency = worker_concurrency
        self.payloads = PayloadStore(self.database, payload_threshold)
        self.runs = Runs(self.database)
        #: The steps YAML flows name (built-ins, the ``switchyard.flow_steps`` entry points, and yours).
        self.steps = steps if steps is not None else FlowSteps()
        self._flows: dict[str, FlowFunction] = {}
        #: YAML flows started by name (validated definitions, ``flows.spec``).
        self.definitions = dict(definitions or {})
        self._workflows: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {}
        self._opened = False
        self._loop_executor: ThreadPoolExecutor | None = None
        #: Told each run's id once it has ended (in this process), e.g. to export its trace; the
        #: run's outcome does not wait for it. At most ``MAX_AFTER`` are pending (more are skipped).
        self.on_finished = on_finished
        self._after: set[asyncio.Task[None]] = set()

    # -- flows ----------------------------------------------------------------
    def flow(self, name: str) -> Callable[[FlowFunction], FlowFunction]:
        """Decorator: register ``async def fn(run, input)`` as the flow ``name``."""
        def register(fn: FlowFunction) -> FlowFunction:
            self.register(name, fn)
            return fn
        return register

    def register(self, name: str, fn: FlowFunction) -> None:
        if not isinstance(name, str) or not name:
            raise FlowError("a flow needs a name")
        if name in self._flows and self._flows[name] is not fn:
            raise FlowError(f"flow {name!r} is already registered")
        self._flows[name] = fn

    def flow_named(self, name: str) -> FlowFunction:
        try:
            return self._flows[name]
        except KeyError:
            known = ", ".join(sorted({*self._flows, *self.definitions})) or "none"
            raise FlowNotFound(f"no flow named {name!r} (registered: {known})") from None

    @property
    def client(self) -> AsyncClient:
        """The gateway in-process that model steps go through."""
        if self._client is None:
            self._client = AsyncClient(self._config)
        return self._client

    # -- lifetime -------------------------------------------------------------
    async def open(self) -> FlowEngine:
        """Create the journal's tables, launch DBOS on this event loop and recover this executor's
        unfinished runs."""
        if self._opened:
            return self
        if dbos_module._dbos_global_instance is not None:
            raise FlowError("another FlowEngine (or DBOS) is open in this process: DBOS is one per process; "
                            "close it first")
        # DBOS makes its own thread pool this loop's default executor, and shuts it down on destroy:
        # close() gives the loop back the one it had, so asyncio.to_thread keeps working after.
        self._loop_executor = getattr(asyncio.get_running_loop(), "_default_executor", None)
        await asyncio.to_thread(self.database.prepare)
        await asyncio.to_thread(self.payloads.create)
        async def run_workflow(ref: dict[str, Any], input: Any, limits: dict[str, Any], started: float) -> Any:
            return await self._run_workflow(ref, input, limits, started)

        async def branch_workflow(ref: dict[str, Any], item: Any, limits: dict[str, Any], started: float,
                                  label: str, root: str | None = None) -> Any:
            return await self._branch_workflow(ref, item, limits, started, label, root)

        # closures, not bound methods: DBOS marks the functions it wraps
        self._workflows = {WORKFLOW: DBOS.workflow(name=WORKFLOW)(run_workflow),
                           BRANCH: DBOS.workflow(name=BRANCH)(branch_workflow)}
        config: dict[str, Any] = {"name": "switchyard", "system_database_url": self.database.url,
                                  "application_version": APPLICATION_VERSION, "executor_id": self.executor_id,
                                  "log_level": "WARNING", "run_admin_server": False,
                                  "notification_listener_polling_interval_sec": 0.05}
        if self.database.schema is not None:
            config["dbos_system_schema"] = self.database.schema
        DBOS(config=config)  # type: ignore[arg-type]
        try:
            DBOS.listen_queues([QUEUE] if self.worker_concurrency else [])  # 0: queued runs are left to workers
            DBOS.launch()  # here, in the loop's thread: DBOS then runs recovered and queued runs on this loop
            if self.worker_concurrency:
                await DBOS.register_queue_async(QUEUE, worker_concurrency=self.worker_concurrency,
                                                polling_interval_sec=0.05)
                await _listening()
        except BaseException:
            self._forget()
            raise
        self._opened = True
        return self

    async def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        after, self._after = list(self._after), set()
        for task in after:  # hooks still waiting when the engine closes are not run
            task.cancel()
        await asyncio.gather(*after, return_exceptions=True)
        await asyncio.to_thread(self._forget)
        previous, self._loop_executor = self._loop_executor, None
        asyncio.get_running_loop().set_default_executor(previous or ThreadPoolExecutor())
        self.payloads.close()
        self.runs.close()
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    def _forget(self) -> None:
        DBOS.destroy(destroy_registry=False)
        registry = dbos_module._get_or_create_dbos_registry()
        for name in (WORKFLOW, BRANCH):  # the next engine in this process registers its own
            registry.workflow_info_map.pop(name, None)

    async def __aenter__(self) -> FlowEngine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runs -----------------------------------------------------------------
    async def start(self, flow: str | dict[str, Any], input: Any = None, *, limits: Limits | dict[str, Any] | None = None,
                    run_id: str | None = None, queue: bool = False) -> RunHandle:
        """Start a run of the flow ``flow`` (a registered name, or ``{"yaml": definition}``); with
        ``run_id`` an existing run is joined, not started twice. ``queue``: leave it to whichever
        worker takes it."""
        self._require_open()
        if isinstance(flow, str) and flow not in self._flows and flow in self.definitions:
            flow = {"yaml": self.definitions[flow]}
        ref: dict[str, Any] = {"flow": flow} if isinstance(flow, str) else dict(flow)
        if "flow" in ref:
            self.flow_named(ref["flow"])
        elif "yaml" in ref:
            from switchyard.flows.spec import validate

            definition = validate(ref["yaml"])
            if limits is None:
                limits = definition.get("limits")  # a YAML flow's own limits, unless the caller gives others
        limits = Limits.of(limits)
        run_id = run_id or uuid.uuid4().hex
        with SetWorkflowID(run_id):
            if queue:
                await DBOS.enqueue_workflow_async(QUEUE, self._workflows[WORKFLOW], ref, input, limits.as_dict(),
                                                  time.time())
            else:
                await DBOS.start_workflow_async(self._workflows[WORKFLOW], ref, input, limits.as_dict(), time.time())
        return RunHandle(self, run_id)

    async def run(self, flow: str | dict[str, Any], input: Any = None, **options: Any) -> RunOutcome:
        """Start a run and wait for its outcome."""
        handle = await self.start(flow, input, **options)
        return await handle.outcome()

    async def start_child(self, ref: dict[str, Any], item: Any, limits: Limits, started: float, *, label: str,
                          root: str) -> Any:
        """A child run (a branch) of the current run; its DBOS handle. Called by ``Run``."""
        handle: Any = await DBOS.start_workflow_async(self._workflows[BRANCH], ref, item, limits.as_dict(), started,
                                                      label, root)
        await emit("branch.started", branch=label, run_id=handle.get_workflow_id())
        return handle

    def _require_open(self) -> None:
        if not self._opened:
            raise FlowError("the engine is not open: `async with engine:` or `await engine.open()` first")

    # -- the two DBOS workflows ----------------------------------------------
    async def _run_workflow(self, ref: dict[str, Any], input: Any, limits: dict[str, Any], started: float) -> dict[str, Any]:
        label = self._label(ref)
        run = Run(self, DBOS.workflow_id or "", label, Limits.of(limits), Totals(started=started))
        await emit("run.started", flow=label)
        try:
            envelope = await self._execute(run, ref, input)
        except BaseException as exc:
            await emit("run.finished", status="failed", reason=f"{type(exc).__name__}: {exc}",
                       totals=run.totals.as_dict())
            raise
        await emit("run.finished", status=envelope["status"], reason=envelope.get("reason"), totals=envelope["totals"])
        self._finished(run.run_id)
        return envelope

    def _finished(self, run_id: str) -> None:
        """Hand ``run_id`` to ``on_finished`` once its outcome is recorded (a task of its own)."""
        hook = self.on_finished
        if hook is None or not run_id or len(self._after) >= MAX_AFTER:
            return

        async def after() -> None:
            try:
                await self.outcome(run_id, timeout=60)
                await hook(run_id)
            except Exception as exc:  # a hook's trouble never touches the run
                log.warning("flow_finished_hook_failed", extra={"run_id": run_id, "error": type(exc).__name__})

        task = asyncio.get_running_loop().create_task(after(), name=f"flow-finished-{run_id}")
        self._after.add(task)
        task.add_done_callback(self._after.discard)

    async def _branch_workflow(self, ref: dict[str, Any], item: Any, limits: dict[str, Any], started: float,
                               label: str, root: str | None) -> dict[str, Any]:
        run = Run(self, DBOS.workflow_id or "", label, Limits.of(limits), Totals(started=started), root=root)
        return await self._execute(run, ref, item)

    async def _execute(self, run: Run, ref: dict[str, Any], input: Any) -> dict[str, Any]:
        target = self._target(ref)
        try:
            output = await target(run, input)
        except LimitReached as exc:
            return {"status": "stopped", "output": None, "reason": str(exc), "totals": run.totals.as_dict(),
                    "limit": {"limit": exc.limit, "allowed": exc.allowed, "used": exc.used}}
        return {"status": "done", "output": output, "totals": run.totals.as_dict()}

    def _target(self, ref: dict[str, Any]) -> FlowFunction:
        if "flow" in ref:
            return self.flow_named(ref["flow"])
        if "fn" in ref:
            return resolve_branch(ref["fn"])
        if "yaml" in ref or "node" in ref:
            from switchyard.flows.interpreter import yaml_target

            target: FlowFunction = yaml_target(self, ref)
            return target
        raise FlowError(f"unknown flow reference {sorted(ref)}")

    @staticmethod
    def _label(ref: dict[str, Any]) -> str:
        if "flow" in ref:
            return str(ref["flow"])
        if "yaml" in ref:
            return str(ref["yaml"].get("name") or "yaml")
        return str(ref.get("fn") or "branch")

    # -- watching and steering ------------------------------------------------
    async def status(self, run_id: str) -> RunStatus:
        return await self.runs.status(run_id)

    async def outcome(self, run_id: str, timeout: float | None = None) -> RunOutcome:
        return await self.runs.outcome(run_id, timeout=timeout)

    def events(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        return self.runs.events(run_id)

    async def trace(self, run_id: str) -> list[dict[str, Any]]:
        """The run as one trace: its spans (``flows.trace``), from the journal."""
        from switchyard.flows.trace import run_spans

        return await run_spans(self.runs, run_id)

    async def send(self, run_id: str, event: str, value: Any = None) -> None:
        """Deliver ``event`` to the run's ``wait_for``."""
        await self.runs.send(run_id, event, value)

    async def cancel(self, run_id: str) -> None:
        await self.runs.cancel(run_id)

    async def resume(self, run_id: str) -> RunHandle:
        """Resume a cancelled or crashed run from its journal (finished steps are not run again)."""
        self._require_open()
        await self.runs.status(run_id)
        await DBOS.resume_workflow_async(run_id)
        return RunHandle(self, run_id)

    async def prune(self, older_than_seconds: float) -> int:
        """Retention: remove ended runs (and their children and payloads) older than that; their number."""
        runs, removed = await self.runs.prune(older_than_seconds)
        await asyncio.to_thread(self.payloads.remove, removed)
        return len(runs)
