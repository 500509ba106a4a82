"""Active health checks: a cheap periodic probe of every deployment.

``probe: models`` sends ``GET <base_url>/models`` with the deployment's own
headers (OpenAI-format upstreams); ``probe: chat`` sends a one-token chat
through the bare adapter (any provider). Deployments without a ``base_url``
are probed with chat. Probes bypass the policies: they must reach a
deployment whose breaker is open, and must not spend the retry budget.

One background task per gateway, owned by ``Services`` (started in ``start``,
cancelled in ``aclose``); every round probes all deployments concurrently,
each bounded by ``health_checks.timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.reliability import HealthCheckConfig
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import ChatRequest
from switchyard.policies.breaker import is_deployment_fault

log = logging.getLogger("switchyard.health")


class HealthChecker:
    """Probes every deployment of the catalog every ``interval`` seconds."""

    def __init__(self, catalog: Any, http: Any, settings: HealthCheckConfig) -> None:
        self.catalog = catalog
        self.http = http
        self.settings = settings
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    def deployments(self) -> list[Any]:
        return list(self.catalog.deployments())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="switchyard-health-checks")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.check_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one round must not end health checking
                log.exception("health check round failed")
            await asyncio.sleep(self.settings.interval)

    async def check_all(self) -> None:
        """One round: probe every deployment and record the results."""
        deployments = self.deployments()
        results = await asyncio.gather(*(self.probe(d) for d in deployments), return_exceptions=True)
        s = self.settings
        for deployment, result in zip(deployments, results):
            if isinstance(result, BaseException):
                ok, detail = False, f"{type(result).__name__}: {getattr(result, 'message', result)}"
            else:
                ok, detail = result
            deployment.health.record_probe(ok, detail, s.unhealthy_after, s.healthy_after)
        self.rounds += 1

    async def probe(self, deployment: Any) -> tuple[bool, str]:
        adapter = deployment.adapter
        base_url = getattr(adapter, "base_url", None)
        headers = getattr(adapter, "headers", None)
        timeout = self.settings.timeout
        if self.settings.probe == "models" and base_url and headers is not None:
            http = getattr(adapter, "http", None) or self.http  # the deployment's own egress
            response = await http.request("GET", f"{base_url}/models", headers=headers, timeout=timeout)
            healthy = response.status < 500 and response.status not in (401, 403, 429)
            return healthy, f"GET /models -> {response.status}"
        request = ChatRequest(
            {"model": deployment.upstream_model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
            deployment.upstream_model,
            max_tokens=1,
        )
        call = Call("health-probe")
        call.deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                await adapter.chat(request, call)
        except SwitchyardError as exc:
            if is_deployment_fault(exc):
                return False, f"chat -> {exc.status} {exc.message}"
            return True, f"chat -> {exc.status} (answered)"
        except TimeoutError:
            return False, f"chat -> no answer within {timeout:g}s"
        return True, "chat -> ok"
