"""A run as one trace: a root span for the run, a span per journaled step (a model step's
carries its model, tokens and USD; a branch's holds its own steps), built from the journal —
so a run resumed after a kill is still one trace, its spans timed as the journal recorded them.

The trace id is the SHA-256 of the run id (cut to 16 bytes), a span id that of the run id and
the step's number: the same run always gives the same trace. ``otlp`` encodes it as an OTLP
``ExportTraceServiceRequest`` with the gateway's own encoder (``observe/otlp.py``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from switchyard.flows.payloads import Ref
from switchyard.flows.runs import Runs
from switchyard.observe import otlp

#: The most spans a trace holds (a run of many thousand steps is cut, and says so).
MAX_SPANS = 10_000
#: Journal operations of DBOS's own that are bookkeeping, not steps.
QUIET_OPERATIONS = frozenset(("DBOS.writeStream", "DBOS.sleep", "DBOS.getResult"))


def _id(*parts: str, size: int) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()[:size]


def step_traceparent(root_run_id: str, run_id: str, step: int) -> str:
    """The W3C ``traceparent`` naming a step's span: a model step hands it to the gateway, whose
    own spans of the call (with ``tracing:``) then join the run's trace under the step."""
    return f"00-{_id(root_run_id, size=16).hex()}-{_id(run_id, str(step), size=8).hex()}-01"


async def run_spans(runs: Runs, run_id: str) -> list[dict[str, Any]]:
    """The run's spans, parents first: ``name``, ids (hex), ``start_ms``, ``end_ms``, ``attributes``."""
    status = await runs.status(run_id)
    trace_id = _id(run_id, size=16).hex()
    root = _id(run_id, "run", size=8).hex()
    spans: list[dict[str, Any]] = [{
        "trace_id": trace_id, "span_id": root, "parent_span_id": None, "name": f"flow {status.flow}",
        "start_ms": status.created_ms, "end_ms": status.updated_ms,
        "attributes": {"flow.run_id": run_id, "flow.status": status.status,
                       **{f"flow.{k}": v for k, v in (status.outcome.totals if status.outcome else {}).items()}},
        "error": status.outcome.reason if status.outcome and status.outcome.status == "failed" else None}]
    await _steps(runs, run_id, trace_id, root, spans)
    return spans


async def _steps(runs: Runs, run_id: str, trace_id: str, parent: str, spans: list[dict[str, Any]]) -> None:
    for step in await runs.journal(run_id):
        if step["name"] in QUIET_OPERATIONS or len(spans) >= MAX_SPANS:
            continue
        span_id = _id(run_id, str(step["step"]), size=8).hex()
        attributes: dict[str, Any] = {"flow.step": step["step"]}
        name = step["name"]
        record = step["output"]
        value = record.get("value") if isinstance(record, dict) else None
        if isinstance(value, dict) and "request" in value and "response" in value:
            attributes.update({"gen_ai.request.model": value["request"].get("model"),
                               "gen_ai.usage.input_tokens": (value.get("usage") or {}).get("prompt_tokens"),
                               "gen_ai.usage.output_tokens": (value.get("usage") or {}).get("completion_tokens"),
                               "flow.usd": value.get("usd")})
        elif isinstance(value, Ref):
            attributes["flow.payload_bytes"] = value.size
        if name == "DBOS.recv":
            name = "wait"
        child = step.get("child_run_id")
        if child:
            attributes["flow.child_run_id"] = child
            name = f"branch {child}"
        spans.append({"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
                      "start_ms": step["started_ms"], "end_ms": step["finished_ms"] or step["started_ms"],
                      "attributes": {k: v for k, v in attributes.items() if v is not None}, "error": step["error"]})
        if child:
            await _steps(runs, child, trace_id, span_id, spans)


def otlp_request(spans: list[dict[str, Any]], service: str = "switchyard-flows") -> bytes:
    """The spans as an OTLP/HTTP protobuf body."""
    encoded = [otlp.span(bytes.fromhex(s["trace_id"]), bytes.fromhex(s["span_id"]),
                         bytes.fromhex(s["parent_span_id"]) if s["parent_span_id"] else b"",
                         otlp.framed(5, s["name"].encode()), 1, int(s["start_ms"] or 0) * 1_000_000,
                         int(s["end_ms"] or s["start_ms"] or 0) * 1_000_000,
                         otlp.attributes(9, s["attributes"]), s["error"]) for s in spans]
    return otlp.trace_request(otlp.resource({"service.name": service}), otlp.scope("switchyard.flows", "1"), encoded)
