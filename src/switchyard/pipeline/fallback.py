"""Fallback chains: from one alias's deployments to other aliases, by error class.

For one request (the route stage, ``pipeline/stages/route.py``)::

    the alias's candidates in turn (the next deployment on any error that
       allows a fallback), under the total deadline set at pipeline entry
    -> when they all failed, the alias's configured fallbacks for that error:
         ContextWindowExceeded   -> fallbacks.context_window  (a larger-context alias)
         ContentPolicyViolation  -> fallbacks.content_policy  (a configured alternative)
         other fallback-able     -> fallbacks.default         (rate limit, outage, timeout,
                                                               breaker open)
       each fallback alias tried the same way (its own fallbacks are not followed);
       one the caller's key may not use is skipped, and listed as skipped
    -> everything failed: one ``FallbackExhausted`` listing every attempt
       (deployment, status, reason), retries included.

The deployment that served is in ``x-switchyard-deployment``; when a fallback
alias served, ``x-switchyard-fallback`` names it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from switchyard.core.call import Attempt, Call
from switchyard.core.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    FallbackExhausted,
    NotFound,
    PermissionDenied,
    SwitchyardError,
)

T = TypeVar("T")

log = logging.getLogger("switchyard.reliability")


def fallback_aliases(group: Any, error: SwitchyardError) -> list[str]:
    """The aliases configured for ``group`` to take over after ``error``."""
    fallbacks = getattr(group.config, "fallbacks", None)
    error = _decisive(error)
    if fallbacks is None or not error.fallback:
        return []
    aliases: list[str]
    if isinstance(error, ContextWindowExceeded):
        aliases = fallbacks.context_window
    elif isinstance(error, ContentPolicyViolation):
        aliases = fallbacks.content_policy
    else:
        aliases = fallbacks.default
    return aliases


def _decisive(error: SwitchyardError) -> SwitchyardError:
    """The error that decides what happens next: a group's last failure."""
    if isinstance(error, FallbackExhausted) and error.attempts:
        return _decisive(error.attempts[-1][1])
    return error


class FallbackChain:
    """Runs a request over its alias and then the alias's fallbacks."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog

    async def run(
        self,
        serve_group: Callable[[Any, Call], Awaitable[T]],
        group: Any,
        call: Call,
    ) -> T:
        """``serve_group(group, call)`` tries one alias's candidates; this adds the
        alias fallbacks (never past the request's deadline)."""
        try:
            return await serve_group(group, call)
        except SwitchyardError as exc:
            return await self.recover(serve_group, group, call, exc)

    async def recover(
        self,
        serve_group: Callable[[Any, Call], Awaitable[T]],
        group: Any,
        call: Call,
        error: SwitchyardError,
    ) -> T:
        """After ``group`` failed with ``error``: its fallback aliases in turn, or the
        error that ends the request. (The route stage calls this only on failure, so
        the usual answer costs no frame here.)"""
        tried = {group.alias}
        for alias in fallback_aliases(group, error):
            if alias in tried:
                continue
            tried.add(alias)
            remaining = call.remaining()
            if remaining is not None and remaining <= 0:
                break
            try:
                other = self.catalog.resolve(alias)
            except NotFound:
                continue
            if not _allowed(call, other.alias):
                continue
            try:
                result = await serve_group(other, call)
            except SwitchyardError as exc:
                error = exc
                if not _decisive(exc).fallback:
                    break
                continue
            call.route["fallback"] = other.alias
            log.info("fallback", extra={"request_id": call.request_id, "from_alias": group.alias,
                                        "alias": other.alias, "after": _decisive(error).code})
            return result
        if not _decisive(error).fallback:
            raise error
        raise exhausted(call, error)


SKIPPED = "fallback_not_allowed"


def _allowed(call: Call, alias: str) -> bool:
    """Whether the caller's key may use the fallback ``alias``; a refusal is
    recorded as a skipped attempt (the caller sees it in the attempts list)."""
    if call.caller is None:
        return True
    try:
        call.caller.check_model(alias)
    except PermissionDenied:
        reason = f"Skipped: this key may not use the fallback model `{alias}`."
        call.attempts.append(Attempt(f"{alias} (fallback)", 403, reason, PermissionDenied(reason, code=SKIPPED)))
        return False
    return True


def exhausted(call: Call, last: SwitchyardError) -> SwitchyardError:
    """The one error for a chain that failed: ``last`` itself when at most one
    attempt was made, else a ``FallbackExhausted`` listing every attempt."""
    attempts = [a for a in call.attempts if hasattr(a, "deployment")]
    if len(attempts) <= 1:
        return last.attempts[-1][1] if isinstance(last, FallbackExhausted) and last.attempts else last
    named: list[tuple[str, SwitchyardError]] = []
    for attempt in attempts:
        error = getattr(attempt, "error", None)
        if not isinstance(error, SwitchyardError):
            error = SwitchyardError(attempt.reason, status=attempt.status)
        named.append((attempt.deployment, error))
    result = FallbackExhausted.from_attempts(named)
    tried = [e for _, e in named if e.code != SKIPPED]
    if tried and tried[-1] is not named[-1][1]:  # a skipped fallback never decides the status
        result.status, result.type, result.retry_after = tried[-1].status, tried[-1].type, tried[-1].retry_after
    return result
