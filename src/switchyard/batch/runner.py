"""One batch line through the gateway's pipeline, as its owner, at the lowest priority.

A line is an in-process ``Call`` like the ``Client``'s: the batch owner's caller (found again
from the identity the batch was created with, so keys, budgets, limits, routing, fallbacks and
spend records apply as to a live request), and — when ``limits:`` has a priority queue — the
priority header naming the lowest class, so batch lines only take capacity interactive requests
leave. Nothing is threaded through the pipeline for them.

Where the alias a line was routed to says so (``models.<alias>.batch.discount``), the first
settler of the call prices it at the provider's batch rate (``PriceSheet.cost(usage, batch=True)``) before the
budget, spend and metrics settlers read ``call.cost``.

A refusal that passes (the gateway's own rate limits and queue, an upstream 429 or 5xx after its
fallbacks) is tried again — up to ``batch.attempts`` times, waiting as long as the refusal
says, at most ``batch.max_retry_wait`` — since a batch has hours, not seconds. Anything else
(a budget spent, a 400) is the line's error-file line.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import orjson

from switchyard.batch.shapes import error_line, result_line
from switchyard.batch.store import Pending, Result
from switchyard.core.call import Call
from switchyard.core.config import Config
from switchyard.core.errors import (
    FallbackExhausted,
    RateLimited,
    ServiceUnavailable,
    SwitchyardError,
    UpstreamError,
    UpstreamRejected,
    to_openai_body,
)
from switchyard.core.messages import validate_chat, validate_embedding
from switchyard.core.request_ids import RequestIds

log = logging.getLogger("switchyard.batch")


def passes(error: SwitchyardError) -> bool:
    """Whether a refusal is worth trying again later: capacity, not the request itself."""
    if error.code in ("request_too_large_for_limit", "token_limit_reached"):
        return False
    if isinstance(error, (RateLimited, ServiceUnavailable)):
        return True
    if isinstance(error, FallbackExhausted):
        return error.status == 429 or error.status >= 500
    return isinstance(error, UpstreamError) and not isinstance(error, UpstreamRejected) and error.retryable


async def batch_priced(call: Call) -> None:
    """A settler (registered first): the call priced at its deployment's batch rate, when the alias
    it was routed to says its upstream bills batch lines so (``models.<alias>.batch.discount``)."""
    deployment, usage, group = call.deployment, call.usage, call.group
    if deployment is not None and usage is not None and group is not None and group.config.batch.discounted:
        call.cost = deployment.price.cost(usage, batch=True)


class LineRunner:
    """Runs lines through ``pipeline`` (the gateway's), as configured by ``config``."""

    def __init__(self, pipeline: Any, config: Config, *, attempts: int, max_retry_wait: float) -> None:
        self.pipeline = pipeline
        self.attempts = attempts
        self.max_retry_wait = max_retry_wait
        limits = config.limits
        self.headers: dict[str, str] = {}
        if limits is not None:
            self.headers[limits.priority.header.lower()] = limits.priority.classes[-1]
        self.request_ids = RequestIds()

    async def run(self, line: Pending, caller: Any, endpoint: str) -> Result:
        for attempt in range(1, self.attempts + 1):
            body = orjson.loads(line.body)  # afresh each try: a provider may rewrite the body it is handed
            call = Call(self.request_ids(), caller=caller, headers=dict(self.headers))
            call.on_settle(batch_priced)
            try:
                if endpoint == "/v1/embeddings":
                    answer: Any = await self.pipeline.embed(validate_embedding(body), call)
                else:
                    answer = await self.pipeline.chat(validate_chat(body), call)
            except SwitchyardError as exc:
                if attempt < self.attempts and passes(exc):
                    await asyncio.sleep(self._wait(exc, attempt))
                    continue
                data = result_line(line.custom_id, call.request_id, exc.status, orjson.dumps(to_openai_body(exc)))
                return Result(line.line_no, line.custom_id, False, data)
            except Exception:
                log.exception("batch_line_failed", extra={"request_id": call.request_id, "line": line.line_no})
                return Result(line.line_no, line.custom_id, False,
                              error_line(line.custom_id, line.line_no, "internal_error", "The line failed inside "
                                                                                         "the gateway."))
            usage = answer.usage
            data = result_line(line.custom_id, call.request_id, 200, answer.to_bytes())
            if usage is None:
                return Result(line.line_no, line.custom_id, True, data)
            return Result(line.line_no, line.custom_id, True, data, usage.prompt_tokens, usage.cached_tokens or 0,
                          usage.completion_tokens, usage.reasoning_tokens or 0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, error: SwitchyardError, attempt: int) -> float:
        backoff = min(self.max_retry_wait, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        hinted = float(error.retry_after or 0.0)
        return float(min(self.max_retry_wait, max(backoff, hinted)))

    @staticmethod
    def refused(line: Pending, error: SwitchyardError) -> Result:
        """The line's result when it cannot run at all (its owner's key is gone)."""
        data = result_line(line.custom_id, "", error.status, orjson.dumps(to_openai_body(error)))
        return Result(line.line_no, line.custom_id, False, data)
