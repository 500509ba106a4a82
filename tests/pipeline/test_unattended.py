"""A unary call whose client leaves before the answer is still charged: the upstream was asked and
bills its answer, so the budget and the spend record take its real cost (``pipeline/unattended.py``)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import orjson
import pytest

import switchyard
from switchyard.core.call import Call
from switchyard.mock import MockUpstreamThread
from switchyard.pipeline.unattended import Unattended
from tests.server.raw_http import request

MASTER = "sk-master-unattended"
KEY = "sk-leaves-early"
PROMPT = "a question whose answer its asker will not wait for, " * 3


def _config(mock: MockUpstreamThread, amount: float = 1.0) -> dict[str, Any]:
    return {"auth": {"master_key": MASTER, "keys": [{"key": KEY, "name": "leaver",
                                                     "budget": {"amount": amount, "period": "daily"}}]},
            "spend": {"records": True}, "reliability": {"retry": {"attempts": 1}},
            "models": {"gpt": {"deployments": [{
                "provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-up",
                "price": {"input": 10, "output": 20}, "headers": {"x-mock-latency-ms": "400"}}]}}}


def _until(condition: Any, what: str, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _expected(row: dict[str, Any]) -> float:
    return float(row["prompt_tokens"] * 10e-6 + row["completion_tokens"] * 20e-6)


def test_an_http_client_that_disconnects_before_the_answer_is_charged_its_real_cost(mock_upstream, start_gateway):
    gateway = start_gateway(_config(mock_upstream, amount=0.0001))
    host, port = gateway.url.removeprefix("http://").split(":")
    body = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": PROMPT}]})
    client = socket.create_connection((host, int(port)))
    client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
                   b"authorization: Bearer " + KEY.encode() + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    _until(lambda: mock_upstream.count("/v1/chat/completions") == 1, "the upstream to be asked")
    client.close()  # gone before the answer (the mock holds it 400 ms)

    def spent() -> list[dict[str, Any]]:
        report = request(gateway.url, "GET", "/admin/spend?group_by=key",
                         headers={"authorization": f"Bearer {MASTER}"}).json()
        return list(report["data"])

    row = _until(spent, "the spend record")[0]
    assert row["requests"] == 1 and row["completion_tokens"] > 0 and row["estimated"] == 0
    assert row["cost_usd"] == pytest.approx(_expected(row)) and row["cost_usd"] > 0.0001
    # The budget was charged too: its spend is past the amount, so the next request is refused.
    again = request(gateway.url, "POST", "/v1/chat/completions", body=body,
                    headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    assert again.status == 429 and again.json()["error"]["code"] == "budget_exceeded"


def test_an_in_process_caller_that_gives_up_still_has_the_answer_charged(mock_upstream):
    async def run() -> None:
        async with switchyard.AsyncClient(_config(mock_upstream), api_key=KEY) as client:
            services = client.services
            assert services is not None and services.spend is not None and services.budgets is not None
            asking = asyncio.ensure_future(client.chat(model="gpt", messages=[{"role": "user", "content": PROMPT}]))
            while mock_upstream.count("/v1/chat/completions") == 0:
                await asyncio.sleep(0.01)
            asking.cancel()  # the caller leaves while the upstream works on the answer
            with pytest.raises(asyncio.CancelledError):
                await asking
            rows: list[Any] = []
            for _ in range(1000):  # the record comes when the call settles: once the answer is in
                rows = (await services.spend.report(_spend_query()))["data"]
                if rows:
                    break
                await asyncio.sleep(0.01)
            row = rows[0]
            assert row["requests"] == 1 and row["errors"] == 0 and row["completion_tokens"] > 0
            assert row["cost_usd"] == pytest.approx(_expected(row)) and row["cost_usd"] > 0
            caller = services.auth.authenticate(f"Bearer {KEY}", None)
            holds = await services.budgets.reserve(caller.budgets, 1.0)
            await holds.settle(Call("probe"))
            assert 1.0 + holds.room == pytest.approx(1.0 - row["cost_usd"], abs=1e-12)

    asyncio.run(run())


def _spend_query() -> Any:
    from switchyard.spend.report import SpendQuery

    return SpendQuery("key")


def test_past_its_limit_a_leaving_caller_takes_its_call_with_it():
    async def run() -> None:
        unattended = Unattended(limit=1, grace=5.0)
        started = [asyncio.Event(), asyncio.Event()]
        release = asyncio.Event()
        ended: list[str] = []

        async def work(n: int) -> str:
            started[n].set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                ended.append(f"cancelled {n}")
                raise
            ended.append(f"finished {n}")
            return "answer"

        callers = [asyncio.ensure_future(unattended.run(work(n))) for n in (0, 1)]
        for n in (0, 1):
            await started[n].wait()
            callers[n].cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        assert len(unattended.running) == 1 and unattended.dropped == 1
        release.set()
        await unattended.aclose()
        assert sorted(ended) == ["cancelled 1", "finished 0"] and not unattended.running

    asyncio.run(run())


def test_closing_waits_for_unattended_calls_then_cancels_the_late_ones():
    async def run() -> None:
        unattended = Unattended(grace=0.05)
        begun = asyncio.Event()

        async def forever() -> None:
            begun.set()
            await asyncio.Event().wait()

        caller = asyncio.ensure_future(unattended.run(forever()))
        await begun.wait()
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        (task,) = unattended.running
        await unattended.aclose()
        assert task.cancelled()

    asyncio.run(run())
