"""``Run``: what a flow does durably — steps, model steps, waits, branches.

Every call here is one journaled operation of DBOS. DBOS numbers a run's operations in the
order they start, so a replayed run must start them in the same order: each method reserves
its number before its first ``await`` (``asyncio.gather`` of steps is deterministic), and
branches of several steps each are child runs (``parallel``, ``map``, ``subflow``), started
in order.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbos import DBOS

from switchyard.flows.errors import EventTimeout, FlowError, LimitReached, StepFailed
from switchyard.flows.events import emit, emit_step
from switchyard.flows.limits import Limits, Totals
from switchyard.flows.payloads import Ref

if TYPE_CHECKING:
    from switchyard.flows.engine import FlowEngine

#: The most attempts a step may ask for (``retries`` + 1).
MAX_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """A model step's journaled record: the exact request, the response body, its usage and
    what the gateway priced it at (``usd`` None when unpriced)."""

    request: dict[str, Any]
    response: dict[str, Any]
    usage: dict[str, Any] | None
    usd: float | None

    @property
    def text(self) -> str:
        """The first choice's message content."""
        choices = self.response.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content") or ""

    @property
    def tokens(self) -> int:
        return int((self.usage or {}).get("total_tokens") or 0)


def branch_ref(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function (a resumed run imports its branches by name)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise FlowError(f"a branch must be a module-level function (a resumed run imports it by name): {fn!r}")
    return f"{module}:{qualname}"


def resolve_branch(ref: str) -> Callable[..., Awaitable[Any]]:
    module, _, qualname = ref.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


class Run:
    """One run of a flow, as the flow sees it. Created by the engine, never by hand."""

    def __init__(self, engine: FlowEngine, run_id: str, flow: str, limits: Limits, totals: Totals,
                 root: str | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        #: The run this one is a branch of, at the top (itself when it is not a branch): one trace.
        self.root = root or run_id
        self.flow = flow
        self.limits = limits
        self.totals = totals

    # -- steps ----------------------------------------------------------------
    def step(self, name: str, fn: Callable[..., Any], *args: Any, retries: int = 0, timeout: float | None = None,
             **kwargs: Any) -> Awaitable[Any]:
        """Call ``fn(*args, **kwargs)`` (sync or async) once, journaled; ``retries`` more attempts on an
        error, each bounded by ``timeout`` seconds."""
        if not isinstance(name, str) or not name:
            raise FlowError("a step needs a name")
        if not 0 <= retries < MAX_ATTEMPTS:
            raise FlowError(f"step {name!r}: retries must be 0..{MAX_ATTEMPTS - 1}")
        return self._journaled(name, self._attempts(name, fn, args, kwargs, retries, timeout), model=False)

    def model(self, name: str, *, model: str, messages: list[dict[str, Any]], retries: int = 0,
              timeout: float | None = None, **params: Any) -> Awaitable[ModelAnswer]:
        """A chat completion through the engine's ``AsyncClient``, journaled with its request,
        response, usage and USD."""
        request = {"model": model, "messages": messages, **params}

        async def call() -> dict[str, Any]:
            from switchyard.flows.trace import step_traceparent

            parent = step_traceparent(self.root, self.run_id, DBOS.step_id or 0)
            priced = await self.engine.client.chat_priced(**request, traceparent=parent)
            usage = priced.response.usage
            return {"request": request, "response": priced.response.body,
                    "usage": None if usage is None else usage.to_openai(), "usd": priced.usd}

        journaled = self._journaled(name, self._attempts(name, call, (), {}, retries, timeout), model=True)
        return self._answer(journaled)

    @staticmethod
    async def _answer(journaled: Awaitable[Any]) -> ModelAnswer:
        record = await journaled
        return ModelAnswer(request=record["request"], response=record["response"], usage=record["usage"],
                           usd=record["usd"])

    async def _journaled(self, name: str, body: Callable[[], Awaitable[Any]], *, model: bool) -> Any:
        self.totals.check(self.limits, model=model)
        record = await DBOS.run_step_async({"name": name}, self._recorded, name, body, model)
        value = record["value"]
        if isinstance(value, Ref):
            value = await self.engine.payloads.load(value)
        self.totals.add(record["used"])
        if model:
            self.totals.check_spent(self.limits)
        return value

    async def _recorded(self, name: str, body: Callable[[], Awaitable[Any]], model: bool) -> dict[str, Any]:
        """What DBOS journals for a step: its value (a reference when large) and what it used."""
        started = time.perf_counter()
        events = self.engine.step_events
        if events:
            await emit_step("step.started", name)
        value = await body()
        used: dict[str, Any] = {"steps": 1}
        extra: dict[str, Any] = {}
        if model:
            tokens = int((value.get("usage") or {}).get("total_tokens") or 0)
            used.update(model_calls=1, tokens=tokens, usd=value.get("usd") or 0.0)
            extra = {"model": value["request"]["model"], "tokens": tokens, "usd": value.get("usd")}
        stored = await self.engine.payloads.store(self.run_id, value)
        if events:
            await emit_step("step.finished", name, ms=round((time.perf_counter() - started) * 1000, 3), **extra)
        return {"value": stored, "used": used}

    @staticmethod
    def _attempts(name: str, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], retries: int,
                  timeout: float | None) -> Callable[[], Awaitable[Any]]:
        async def attempt() -> Any:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await (result if timeout is None else asyncio.wait_for(result, timeout))
            return result

        async def attempts() -> Any:
            for number in range(1, retries + 2):
                try:
                    return await attempt()
                except (LimitReached, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    if number > retries:
                        raise StepFailed(name, number, exc) from exc
                    await emit_step("step.retry", name, attempt=number, error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(min(0.05 * 2 ** (number - 1), 2.0))
            raise AssertionError("unreachable")

        return attempts

    # -- events ---------------------------------------------------------------
    async def wait_for(self, event: str, timeout: float) -> Any:
        """The value sent to this run as ``event``; ``EventTimeout`` after ``timeout`` seconds."""
        if not isinstance(event, str) or not event:
            raise FlowError("wait_for needs an event name")
        await emit("wait.started", event=event, timeout=timeout)
        message = await DBOS.recv_async(topic=event, timeout_seconds=timeout)
        if message is None:
            raise EventTimeout(event, timeout)
        return message["value"]

    # -- branches -------------------------------------------------------------
    async def parallel(self, *branches: Callable[..., Awaitable[Any]], item: Any = None) -> list[Any]:
        """Run each ``branch(run, item)`` as a child run, all at once; their results in order."""
        return await self.children([({"fn": branch_ref(b)}, item) for b in branches], None,
                                   label=getattr(branches[0], "__name__", None) if len(branches) == 1 else "parallel")

    async def map(self, branch: Callable[..., Awaitable[Any]], items: Iterable[Any], *,
                  concurrency: int | None = None) -> list[Any]:
        """Fan-out: ``branch(run, item)`` for every item as child runs, at most ``concurrency`` at
        once (started in order); the list of their results, in order."""
        ref = {"fn": branch_ref(branch)}
        return await self.children([(ref, item) for item in items], concurrency, label=getattr(branch, "__name__", None))

    async def subflow(self, flow: str, input: Any = None) -> Any:
        """Another registered flow as a child run; its output."""
        self.engine.flow_named(flow)
        return (await self.children([({"flow": flow}, input)], None, label=flow))[0]

    async def children(self, work: list[tuple[dict[str, Any], Any]], concurrency: int | None, *,
                       label: str | None = None) -> list[Any]:
        """Child runs of ``(reference, input)`` pairs (``{"fn": "module:qualname"}``, ``{"flow": name}``,
        ``{"node": YAML body}``), at most ``concurrency`` at once, started in order; their outputs."""
        if concurrency is not None and concurrency < 1:
            raise FlowError("concurrency must be at least 1")
        self.totals.check(self.limits)
        window = len(work) if concurrency is None else concurrency
        handles: list[Any] = []
        results: list[Any] = []
        for index, (ref, item) in enumerate(work):
            if len(handles) - len(results) >= window:
                results.append(await self._settle(handles[len(results)]))
            handles.append(await self.engine.start_child(ref, item, self.limits.left(self.totals), self.totals.started,
                                                         label=f"{label or self.flow}[{index}]", root=self.root))
        while len(results) < len(handles):
            results.append(await self._settle(handles[len(results)]))
        return results

    async def _settle(self, handle: Any) -> Any:
        envelope = await handle.get_result()
        self.totals.add(envelope["totals"])
        if envelope["status"] == "stopped":
            limit = envelope["limit"]
            raise LimitReached(limit["limit"], limit["allowed"], limit["used"])
        return envelope["output"]
