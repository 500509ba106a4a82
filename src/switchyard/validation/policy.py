"""The validating wrapper around a deployment's chain (``policies/chain.py``).

Built on every deployment when some alias has ``validation:``; a call is checked
by the settings of the alias it asked for (``call.group``), so an answer from a
fallback alias's deployment is held to the same standard. For one call::

    the chain's answer (its own retries, breaker, timeout inside)
    -> valid, or nothing asked for: returned
    -> invalid: the same deployment again, up to ``validation.retries`` times
       (each counted as an attempt of the call, ``retried``)
    -> still invalid: ``InvalidAnswer`` (502 ``invalid_response``, fallback allowed):
       the route stage tries the next candidate, then the alias's fallbacks; when
       none answers validly, the client gets that error with every attempt listed.

A stream is checked at its end (``stream.py``): its chunks have gone to the
client, so an invalid one is not asked again but ends with an error event.
Every verdict is counted (``switchyard_answer_validations``) and an invalid answer
logged with its reason, never its content.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from switchyard.core.call import Attempt, Call, Kind
from switchyard.core.errors import InvalidAnswer
from switchyard.core.messages import Chunk
from switchyard.policies.chain import Chain
from switchyard.validation.expectation import Expectation, Problem, Schemas, expectation_of
from switchyard.validation.stream import CheckedStream

log = logging.getLogger("switchyard.validation")


class Validation:
    """The gateway's validation: compiled schemas and where verdicts are counted."""

    def __init__(self, metrics: Any = None) -> None:
        self.schemas = Schemas()
        self.metrics = metrics

    def expectation(self, call: Call) -> tuple[Expectation, Any] | None:
        """What ``call``'s answer must be and the settings it is held to; None when unchecked."""
        group = call.group
        settings = getattr(group.config, "validation", None) if group is not None else None
        if settings is None or call.kind is not Kind.CHAT:
            return None
        body = call.request.body
        if "response_format" not in body and "tools" not in body:  # the usual request: nothing to check
            return None
        expectation = expectation_of(body, settings, self.schemas)
        return None if expectation is None else (expectation, settings)

    def count(self, call: Call, deployment_id: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.validated(call, deployment_id, result)

    def wrap(self, chain: Chain, deployment_id: str) -> Chain:
        """``chain`` with its answers checked (see the module docstring)."""
        checked = _Checked(self, chain, deployment_id)
        return Chain(checked.unary, checked.stream, chain.stages)


class _Checked:
    __slots__ = ("validation", "chain", "deployment_id")

    def __init__(self, validation: Validation, chain: Chain, deployment_id: str) -> None:
        self.validation = validation
        self.chain = chain
        self.deployment_id = deployment_id

    # Plain functions: a call with nothing to check gets the chain's own awaitable (no frame of
    # ours); one that asks for JSON or tool calls gets the checking coroutine.
    def unary(self, call: Call) -> Awaitable[Any]:
        held = self.validation.expectation(call)
        if held is None:
            return self.chain.unary(call)
        return self._unary(call, *held)

    def stream(self, call: Call) -> Awaitable[AsyncIterator[Chunk]]:
        held = self.validation.expectation(call)
        if held is None:
            return self.chain.stream(call)
        return self._stream(call, *held)

    async def _unary(self, call: Call, expectation: Expectation, settings: Any) -> Any:
        tries = 1 + settings.retries
        for attempt in range(tries):
            answer = await self.chain.unary(call)
            problem = expectation.problem(answer.body)
            if problem is None:
                self.validation.count(call, self.deployment_id, "valid")
                return answer
            error = self._invalid(call, problem)
            if attempt + 1 < tries:
                call.attempts.append(Attempt(self.deployment_id, error.status, error.message, error, retried=True))
        raise error

    async def _stream(self, call: Call, expectation: Expectation, settings: Any) -> AsyncIterator[Chunk]:
        chunks: AsyncIterator[Chunk] = await self.chain.stream(call)
        return CheckedStream(chunks, expectation, settings.max_bytes, lambda problem: self._invalid(call, problem),
                             lambda: self.validation.count(call, self.deployment_id, "valid"))

    def _invalid(self, call: Call, problem: Problem) -> InvalidAnswer:
        self.validation.count(call, self.deployment_id, problem.kind)
        log.info("invalid_answer", extra={"request_id": call.request_id, "deployment": self.deployment_id,
                                          "reason": problem.kind})
        return InvalidAnswer(f"The answer of `{self.deployment_id}` is not what the request asked for: "
                             f"{problem.message}.")
