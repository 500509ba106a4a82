"""route and fallback: the last request stage, which calls the deployments.

For one request::

    the group's candidates, best first (``routing/router.py``: capability,
       availability, balancing, region, the session's home first)
    -> each in turn through its policy chain (``policies/chain.py``), the next
       one on any error that allows a fallback
    -> when they all failed, the alias's configured fallbacks (``pipeline/fallback.py``)

For streams, "each in turn" covers the pre-first-byte window: the chain hands
back a stream whose first chunk has arrived, so a deployment that fails before
producing anything is replaced invisibly. After the first chunk an error
reaches the client as the stream's error event, without the deployment's
secrets (each deployment's chain sees to that: ``pipeline/deployments.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from switchyard.core.call import Attempt, Call
from switchyard.core.errors import FallbackExhausted, SwitchyardError, UpstreamAuthError, redact_text
from switchyard.core.messages import Chunk
from switchyard.pipeline.deployments import credentials
from switchyard.pipeline.fallback import FallbackChain
from switchyard.routing.catalog import Catalog, Deployment, ModelGroup
from switchyard.routing.residency import confined
from switchyard.routing.router import Router

log = logging.getLogger("switchyard.reliability")


class Route:
    """Serves the call's group: candidates in turn, then the alias fallbacks.
    Terminal: ``unary(call)`` and ``stream(call)`` take no ``next``."""

    def __init__(self, catalog: Catalog, router: Router) -> None:
        self.router = router
        self.fallbacks = FallbackChain(catalog)

    # unary and stream are plain functions handing back ``_serve``'s coroutine: the
    # usual answer passes one frame here, not two.
    def unary(self, call: Call) -> Awaitable[Any]:
        return self._serve(call.group, call, True)

    def stream(self, call: Call) -> Awaitable[AsyncIterator[Chunk]]:
        return self._serve(call.group, call, True)

    async def _recover(self, group: ModelGroup, call: Call, exc: SwitchyardError) -> Any:
        """The alias fallbacks; for a caller pinned to regions, their failure says so (``routing/residency.py``)."""
        try:
            return await self.fallbacks.recover(self._fallback, group, call, exc)
        except SwitchyardError as error:
            raise confined(call, error, group.alias) from None

    def _fallback(self, group: ModelGroup, call: Call) -> Awaitable[Any]:
        """A fallback alias's group, served without fallbacks of its own (the chain walks them)."""
        return self._serve(group, call, False)

    async def _serve(self, group: ModelGroup, call: Call, fallbacks: bool) -> Any:
        """The answer of the first candidate that gives one (a stream: once it opened);
        when they all fail and ``fallbacks``, the alias fallbacks'."""
        try:
            streaming = call.stream
            router = self.router
            candidates = (router.candidates(group, call.request, call) if router.sticky is None
                          else await router.order(group, call.request, call))
            track = router.tracker(group)
            errors: list[tuple[Deployment, SwitchyardError]] = []
            for deployment in candidates:
                started = track.begin(deployment) if track is not None else 0.0
                try:
                    if streaming:
                        result = await deployment.chain.stream(call)
                    else:
                        result = await deployment.chain.unary(call)
                except SwitchyardError as exc:
                    if track is not None:
                        track.failed(deployment, started, exc.fallback and not exc.local)
                    _scrub(exc, deployment, call)
                    log.info("upstream_error", extra={"request_id": call.request_id, "deployment": deployment.id,
                                                      "status": exc.status, "code": exc.code, "fallback": exc.fallback})
                    errors.append((deployment, exc))
                    call.attempts.append(Attempt(deployment.id, exc.status, exc.message, exc))
                    if not exc.fallback:
                        raise
                    continue
                except BaseException:
                    if track is not None:
                        track.failed(deployment, started, False)
                    raise
                if track is not None:
                    result = track.succeeded(deployment, started, result)
                call.route["deployment"] = deployment.id
                call.deployment = deployment
                return result
            if len(errors) == 1:
                raise errors[0][1]
            raise FallbackExhausted.from_attempts(errors)
        except SwitchyardError as exc:
            if not fallbacks:
                raise
            return await self._recover(group, call, exc)


def _scrub(exc: SwitchyardError, deployment: Deployment, call: Call) -> None:
    """Blank the deployment's secrets out of its error and of the attempts its
    retries recorded; name the deployment when its credentials were refused."""
    secrets = credentials(deployment.adapter, deployment.config)
    if isinstance(exc, UpstreamAuthError):
        exc.for_deployment(deployment.id, secrets)
    else:
        exc.redact(secrets)
    for attempt in call.attempts:
        if attempt.deployment == deployment.id:
            attempt.reason = redact_text(attempt.reason, secrets)
            if isinstance(attempt.error, SwitchyardError):
                attempt.error.redact(secrets)
