"""Batches of an alias with ``batch.mode: native``: run by the provider's own batch API.

The sweeper (one process at a time) moves each such batch along, one step per round:

1. **submit** — the batch's lines, with the model its first deployment names upstream, sent to
   that deployment's provider: OpenAI (``provider: openai`` or ``openai_compatible``; the file
   uploaded to ``/files``, then ``/batches``) or Anthropic (``/v1/messages/batches``, each line
   translated as a live request is). The provider's batch id is kept on the batch;
2. **poll** — every ``batch.native_poll_interval`` until the provider says it is over;
3. **collect** — its results fetched and written as the batch's results (each line once, as
   from the gateway's workers), each line priced at the deployment's batch rate
   (``PriceSheet.cost(usage, batch=True)``) and given a spend record; a line the provider left
   out gets an error line. The batch then finishes like any other.

A cancelled batch is cancelled at the provider too. What the native path does not do: it does
not reserve the lines' cost against budgets before submitting (the spend records count it as
the results arrive), and lines are not retried on other deployments or fallbacks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from switchyard.batch.shapes import error_line, result_line
from switchyard.batch.store import BatchStore, Result
from switchyard.core.call import Call, Kind
from switchyard.core.errors import InvalidRequest, SwitchyardError
from switchyard.providers import batch_wire as wire

log = logging.getLogger("switchyard.batch")

OPENAI = ("openai", "openai_compatible")
ANTHROPIC = ("anthropic",)
#: Seconds a provider request may take.
TIMEOUT = 120.0


class NativeBatches:
    def __init__(self, store: BatchStore, catalog: Any, *, auth: Any, spend: Any = None,
                 interval: float = 10.0) -> None:
        self.store = store
        self.catalog = catalog
        self.auth = auth
        self.spend = spend
        self.interval = interval

    def check(self, alias: str, endpoint: str) -> None:
        """400 when ``alias`` cannot be batched natively (its first deployment's provider has no batch API
        the gateway speaks)."""
        deployment = self.catalog.resolve(alias).deployments[0]
        provider = deployment.provider_name
        if provider in OPENAI or (provider in ANTHROPIC and endpoint == "/v1/chat/completions"):
            return
        raise InvalidRequest(f"Alias {alias} has batch.mode native, but its deployment's provider {provider!r} has "
                             "no batch API the gateway speaks (openai, openai_compatible; anthropic for chat).",
                             param="input_file_id", code="invalid_value")

    # -- the sweeper's steps -------------------------------------------------------------------------
    async def advance(self, batch: Any) -> None:
        state = dict(batch.native or {})
        now = time.time()
        if not state.get("id"):
            await self._submit(batch)
        elif now - float(state.get("polled") or 0) >= self.interval:
            await self._poll(batch, state)

    async def cancel(self, batch: Any) -> None:
        state = dict(batch.native or {})
        if not state.get("id") or state.get("cancel_sent"):
            return
        deployment = self._deployment(batch, state)
        adapter = deployment.adapter
        if state["provider"] == "anthropic":
            await self._request(adapter, "POST", f"{_anthropic_base(adapter)}/messages/batches/{state['id']}/cancel")
        else:
            await self._request(adapter, "POST", f"{adapter.base_url}/batches/{state['id']}/cancel")
        state["cancel_sent"] = True
        await self.store.set_native(batch.id, state)

    def _deployment(self, batch: Any, state: dict[str, Any] | None = None) -> Any:
        group = self.catalog.resolve(batch.alias)
        wanted = (state or {}).get("deployment")
        return next((d for d in group.deployments if d.id == wanted), group.deployments[0])

    async def _submit(self, batch: Any) -> None:
        deployment = self._deployment(batch)
        adapter = deployment.adapter
        lines = [(line.custom_id, line.body) for line in await self.store.all_lines(batch.id)]
        state: dict[str, Any] = {"deployment": deployment.id, "polled": time.time()}
        if deployment.provider_name in ANTHROPIC:
            body = wire.anthropic_requests(lines, deployment.upstream_model, max_tokens=adapter.max_tokens,
                                           structured=adapter.structured)
            made = await self._request(adapter, "POST", f"{_anthropic_base(adapter)}/messages/batches",
                                       orjson.dumps(body))
            state.update(provider="anthropic", id=made["id"])
        else:
            content = wire.openai_input(lines, deployment.upstream_model, batch.endpoint)
            kind, upload = wire.multipart({"purpose": "batch"}, "file", f"{batch.id}.jsonl", content)
            uploaded = await self._request(adapter, "POST", f"{adapter.base_url}/files", upload, kind)
            made = await self._request(adapter, "POST", f"{adapter.base_url}/batches", orjson.dumps({
                "input_file_id": uploaded["id"], "endpoint": batch.endpoint, "completion_window": "24h",
                "metadata": {"switchyard_batch": batch.id}}))
            state.update(provider="openai", id=made["id"], file=uploaded["id"])
        await self.store.set_native(batch.id, state)
        log.info("native_batch_submitted", extra={"batch": batch.id, "provider": state["provider"],
                                                  "lines": len(lines)})

    async def _poll(self, batch: Any, state: dict[str, Any]) -> None:
        deployment = self._deployment(batch, state)
        adapter = deployment.adapter
        state["polled"] = time.time()
        results: list[wire.NativeResult] = []
        if state["provider"] == "anthropic":
            base = _anthropic_base(adapter)
            seen = await self._request(adapter, "GET", f"{base}/messages/batches/{state['id']}")
            if seen.get("processing_status") != "ended":
                await self.store.set_native(batch.id, state)
                return
            url = seen.get("results_url") or f"{base}/messages/batches/{state['id']}/results"
            results = wire.anthropic_results(await self._raw(adapter, url))
        else:
            seen = await self._request(adapter, "GET", f"{adapter.base_url}/batches/{state['id']}")
            status = seen.get("status")
            if status not in wire.OPENAI_DONE:
                await self.store.set_native(batch.id, state)
                return
            for key in ("output_file_id", "error_file_id"):
                if seen.get(key):
                    results.extend(wire.openai_results(
                        await self._raw(adapter, f"{adapter.base_url}/files/{seen[key]}/content")))
            state["status"] = status
        state["collected"] = True
        await self.store.set_native(batch.id, state)
        await self._collect(batch, deployment, results)

    async def _collect(self, batch: Any, deployment: Any, results: list[wire.NativeResult]) -> None:
        lines = {line.custom_id: line for line in await self.store.all_lines(batch.id)}
        out: list[Result] = []
        for result in results:
            line = lines.get(result.custom_id)
            if line is None:
                continue
            if result.error is not None:
                code, message = result.error
                out.append(Result(line.line_no, line.custom_id, False,
                                  error_line(line.custom_id, line.line_no, code, message)))
                continue
            usage = result.usage
            out.append(Result(line.line_no, line.custom_id, result.status == 200,
                              result_line(line.custom_id, result.request_id, result.status, result.body),
                              usage.prompt_tokens if usage else 0, (usage.cached_tokens or 0) if usage else 0,
                              usage.completion_tokens if usage else 0, (usage.reasoning_tokens or 0) if usage else 0))
            await self._spend(batch, deployment, result)
        for custom_id in wire.missing(results, lines):
            line = lines[custom_id]
            out.append(Result(line.line_no, custom_id, False, error_line(
                custom_id, line.line_no, "native_batch_incomplete", "The provider's batch ended without this line.")))
        await self.store.write_results(batch.id, out)

    async def _spend(self, batch: Any, deployment: Any, result: wire.NativeResult) -> None:
        """The line's spend record, priced at the batch rate, as a live request's would be."""
        if self.spend is None:
            return
        call = Call(result.request_id or f"{batch.id}:{result.custom_id}", kind=Kind.CHAT
                    if batch.endpoint == "/v1/chat/completions" else Kind.EMBED)
        call.alias, call.deployment, call.usage = batch.alias, deployment, result.usage
        call.cost = deployment.price.cost(result.usage, batch=True) if result.usage is not None else 0.0
        try:
            call.caller = self.auth.caller_for(batch.owner)
        except SwitchyardError:  # its key went away meanwhile: still recorded, under its identity
            call.caller = _Owner(batch.owner)
        if result.status != 200:
            call.error = InvalidRequest("The provider refused this line.", status=result.status)
        await self.spend.record_call(call)

    async def _request(self, adapter: Any, method: str, url: str, body: bytes | None = None,
                       content_type: str = "application/json") -> Any:
        response = await adapter.http.request(method, url, headers=_headers(adapter, content_type), body=body,
                                              timeout=TIMEOUT, total_timeout=TIMEOUT)
        if response.status >= 300:
            raise RuntimeError(f"{method} {url.split('?')[0]} answered {response.status}")
        return response.json()

    async def _raw(self, adapter: Any, url: str) -> bytes:
        response = await adapter.http.request("GET", url, headers=_headers(adapter, "application/json"),
                                              timeout=TIMEOUT, total_timeout=TIMEOUT)
        if response.status >= 300:
            raise RuntimeError(f"GET {url.split('?')[0]} answered {response.status}")
        return bytes(response.content)


class _Owner:
    """The spend record's "who" for a native line: the batch owner's identity as its key name."""

    def __init__(self, identity: str) -> None:
        kind, _, name = identity.partition(":")
        self.name = name or kind
        self.key_id = name if kind == "key" else None


def _anthropic_base(adapter: Any) -> str:
    base = str(adapter.base_url)
    return base if base.endswith("/v1") else base + "/v1"


def _headers(adapter: Any, content_type: str) -> dict[str, str]:
    headers = {"content-type": content_type}
    key = adapter.api_key
    if adapter.deployment.provider == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
        if key:
            headers["x-api-key"] = key
    elif key:
        headers["authorization"] = f"Bearer {key}"
    return headers
