"""The one error tree of Switchyard.

Every error knows the HTTP status it maps to, its OpenAI error ``type``, an
optional machine ``code``, whether the same call may be retried, and whether a
fallback deployment may take over::

    SwitchyardError                       500 api_error
    ├── ClientError                       4xx: the caller must change something
    │   ├── InvalidRequest                400 invalid_request_error (names `param`)
    │   │   ├── CapabilityMissing         400 code=capability_missing
    │   │   ├── ContextWindowExceeded     400 code=context_length_exceeded   fallback
    │   │   ├── ContentPolicyViolation    400 code=content_policy_violation  fallback
    │   │   ├── GuardBlocked              400 code=guard_blocked (a category the policy blocks; never the value)
    │   │   ├── OutputBlocked             400 code=output_blocked (the answer held a blocked category)
    │   │   └── ModerationFlagged         400 code=moderation_flagged (the classifier alias flagged it)
    │   ├── AuthenticationFailed          401 authentication_error
    │   ├── PermissionDenied              403 permission_error
    │   ├── NotFound                      404 not_found_error
    │   │   └── StreamNotFound            404 code=stream_not_found (no such stream in flight for this tenant)
    │   ├── RequestTimeout                408 code=request_timeout (headers or body too slow)
    │   ├── Conflict                      409 a name taken, a record changed meanwhile (admin API)
    │   ├── PayloadTooLarge               413 invalid_request_error
    │   ├── HeadersTooLarge               431 code=request_headers_too_large
    │   ├── RateLimited                   429 rate_limit_error (the gateway's own limits)
    │   │   └── DeploymentSaturated       429 code=deployment_at_capacity     fallback (never retried)
    │   ├── BudgetExceeded                429 insufficient_quota code=budget_exceeded (never retried)
    │   ├── SubscriberTooSlow             400 code=stream_subscriber_too_slow (a shared stream moved on)
    │   └── ClientDisconnected            499 the client left before the answer (nothing is sent)
    ├── UpstreamError                     an upstream answered badly or not at all
    │   ├── UpstreamRateLimited           429 code=rate_limit_exceeded       retry, fallback
    │   ├── UpstreamUnavailable           502 code=upstream_error            retry, fallback
    │   │   ├── UpstreamConnectError      502 code=upstream_connect_error
    │   │   └── UpstreamProtocolError     502 code=upstream_bad_response
    │   ├── UpstreamAuthError             502 code=upstream_authentication_error  fallback (never retried)
    │   ├── UpstreamTimeout               504 code=upstream_timeout          retry, fallback
    │   ├── UpstreamRejected              the upstream's own 4xx, passed on as is
    │   ├── InvalidAnswer                 502 code=invalid_response: not the JSON asked for  fallback (never retried)
    │   └── FallbackExhausted             every deployment failed; lists each attempt
    │       └── RegionUnavailable         503 code=region_unavailable: nothing within the caller's regions served
    └── ServiceUnavailable                503 (not ready, shutting down, breaker open)
        ├── GuardUnavailable              503 code=guard_unavailable: a detector or the classifier failed (fail closed)
        ├── CircuitOpen                   503 code=circuit_open               fallback (never retried)
        ├── ConnectionPoolFull            503 code=connection_pool_full       fallback (never retried), local
        └── RelayLost                     503 code=relay_lost (the replica sharing its stream went away)

A ``local`` error is the gateway's own limit, met before the request left it:
it says nothing about the upstream, so no deployment's health or latency counts it.

Codes are OpenAI's where OpenAI has one (``rate_limit_exceeded``, ``invalid_api_key``,
``context_length_exceeded``...), else the gateway's own; an upstream's vocabulary
(``overloaded_error``, ``RESOURCE_EXHAUSTED``, ``ThrottlingException``) never reaches
the client as a code, except in an upstream 4xx passed on as is (``UpstreamRejected``).
A stream that breaks after its first byte ends with its cause's error as the last event.

``to_openai_body`` renders any of them (the Anthropic body is rendered by
``providers.anthropic_format.front.error_body`` from the same status); nothing
else decides an HTTP status for an error.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any


class SwitchyardError(Exception):
    """Base of every error Switchyard raises on purpose."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retryable: bool = False
    fallback: bool = False
    local: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"

    def redact(self, secrets: Any) -> SwitchyardError:
        """Blank any of ``secrets`` out of the message: some upstreams echo the
        credential they were sent in their own error text."""
        message = redact_text(self.message, secrets)
        if message is not self.message:
            self.message = message
            self.args = (message,)
        return self

    def response_headers(self) -> dict[str, str]:
        """Headers the HTTP response for this error must carry."""
        headers = dict(self.headers)
        if self.retry_after is not None:
            seconds = max(0, self.retry_after)
            headers["retry-after"] = str(int(seconds) if seconds == int(seconds) else int(seconds) + 1)
            headers["retry-after-ms"] = str(math.ceil(seconds * 1000 - 1e-6))  # rounded up, like retry-after
        return headers


def redact_text(text: str, secrets: Any) -> str:
    """``text`` with every secret of four characters or more replaced by ``[redacted]``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class ClientError(SwitchyardError):
    status = 400
    type = "invalid_request_error"


class InvalidRequest(ClientError):
    status = 400
    type = "invalid_request_error"


class CapabilityMissing(InvalidRequest):
    code = "capability_missing"


class ContextWindowExceeded(InvalidRequest):
    code = "context_length_exceeded"
    fallback = True


class ContentPolicyViolation(InvalidRequest):
    code = "content_policy_violation"
    fallback = True


class GuardBlocked(InvalidRequest):
    """The guard found a category its policy blocks in the request. The message names the
    category and where it was (``param``), never the value."""

    code = "guard_blocked"


class OutputBlocked(InvalidRequest):
    """The guard found a category its policy blocks in the model's answer (a stream: its last event)."""

    code = "output_blocked"


class ModerationFlagged(InvalidRequest):
    """The moderation classifier (an alias of the config) flagged the request."""

    code = "moderation_flagged"


class AuthenticationFailed(ClientError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    type = "permission_error"


class NotFound(ClientError):
    status = 404
    type = "not_found_error"


class StreamNotFound(NotFound):
    """``GET /v1/streams/{request_id}``: no stream of that id is in flight for the caller's tenant."""

    code = "stream_not_found"


class RequestTimeout(ClientError):
    """The client did not send its headers or body within the server's deadline."""

    status = 408
    code = "request_timeout"


class Conflict(ClientError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(ClientError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class HeadersTooLarge(ClientError):
    """The request line and headers are over ``server.max_header_bytes``, or more than ``server.max_headers``."""

    status = 431
    code = "request_headers_too_large"


class RateLimited(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class DeploymentSaturated(RateLimited):
    """A deployment is at its configured or learned capacity: try another one."""

    code = "deployment_at_capacity"
    fallback = True


class BudgetExceeded(ClientError):
    """A budget's hard stop. OpenAI answers a spent account with 429 ``insufficient_quota``;
    so does the gateway, with its own ``code``, and ``x-should-retry: false`` so the
    official SDKs do not retry a refusal that lasts until the period resets."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"

    def __init__(self, message: str, *, budget: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after,
                         headers={"x-should-retry": "false", "x-switchyard-budget": budget})


class SubscriberTooSlow(ClientError):
    """A reader of a shared (coalesced or joined) stream fell further behind than the stream's
    buffer (``cache.stream_buffer_bytes``): it is ended, the others go on."""

    status = 400
    code = "stream_subscriber_too_slow"


class ClientDisconnected(ClientError):
    status = 499
    code = "client_disconnected"


class UpstreamError(SwitchyardError):
    status = 502
    type = "api_error"


class UpstreamRateLimited(UpstreamError):
    """The upstream's 429, under OpenAI's code: to a client it reads as OpenAI's own
    (the gateway's own limits say which in ``x-switchyard-limit``)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    retryable = True
    fallback = True


class UpstreamUnavailable(UpstreamError):
    status = 502
    type = "api_error"
    code = "upstream_error"
    retryable = True
    fallback = True


class UpstreamConnectError(UpstreamUnavailable):
    code = "upstream_connect_error"


class UpstreamProtocolError(UpstreamUnavailable):
    code = "upstream_bad_response"


class UpstreamAuthError(UpstreamError):
    """The upstream refused the gateway's own credentials for a deployment (its 401/403).

    Not the caller's key, so not a 401: an SDK would tell its user that their
    gateway key is wrong. Retrying the same key is pointless; another deployment
    may hold a good one, so a fallback may take over. ``detail`` is the
    upstream's own message; ``for_deployment`` names the deployment and removes
    the credentials from it.
    """

    status = 502
    type = "api_error"
    code = "upstream_authentication_error"
    retryable = False
    fallback = True

    def __init__(self, detail: str, *, upstream_status: int = 401, **kwargs: Any) -> None:
        self.detail = detail
        self.upstream_status = upstream_status
        kwargs.pop("code", None)  # the upstream's code is in ``detail``; ours says what happened
        super().__init__(self._compose(None), **kwargs)

    def _compose(self, deployment: str | None) -> str:
        where = f" for deployment {deployment}" if deployment else ""
        message = f"The upstream rejected the gateway's credentials{where} (HTTP {self.upstream_status})"
        return f"{message}: {self.detail}" if self.detail else message + "."

    def for_deployment(self, deployment: str, secrets: Any = ()) -> UpstreamAuthError:
        """Name ``deployment`` in the message and blank any of ``secrets`` the
        upstream echoed back in its own message."""
        self.detail = redact_text(self.detail, secrets)
        self.message = self._compose(deployment)
        self.args = (self.message,)
        self.redact(secrets)
        return self


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"
    retryable = True
    fallback = True


class UpstreamRejected(UpstreamError):
    """The upstream refused the request with its own 4xx; the caller sees it as is."""

    status = 400
    type = "invalid_request_error"


class InvalidAnswer(UpstreamError):
    """An answer that is not what the request asked for (``response_format`` JSON, its schema,
    tool-call arguments), checked for an alias with ``validation:``. The same deployment was
    asked again as configured; another deployment or a fallback alias may take over."""

    status = 502
    type = "api_error"
    code = "invalid_response"
    retryable = False
    fallback = True


class FallbackExhausted(UpstreamError):
    """Every candidate failed. ``attempts`` holds ``(deployment id, error)`` in order;
    the status is the last attempt's, so a chain of 429s still reads as 429, and
    ``retry_after`` is the soonest any attempt gave."""

    code = "all_deployments_failed"

    def __init__(self, message: str, attempts: list[tuple[str, SwitchyardError]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempts = attempts
        last = attempts[-1][1] if attempts else None
        if last is not None:
            self.status = last.status
            self.type = last.type
            # The soonest any deployment said it would take a request again.
            waits = [error.retry_after for _, error in attempts if error.retry_after is not None]
            self.retry_after = min(waits) if waits else None

    @classmethod
    def from_attempts(cls, attempts: list[tuple[Any, SwitchyardError]]) -> FallbackExhausted:
        named = [(getattr(d, "id", str(d)), err) for d, err in attempts]
        detail = "; ".join(f"{name}: {err.status} {err.message}" for name, err in named)
        deployments = len(dict.fromkeys(name for name, _ in named))
        tried = f"{_count(len(named), 'attempt')} on {_count(deployments, 'deployment')}"
        return cls(f"Every candidate failed ({tried}): {detail}", named)

    def redact(self, secrets: Any) -> FallbackExhausted:
        secrets = list(secrets)
        for _, error in self.attempts:
            error.redact(secrets)
        super().redact(secrets)
        return self


class RegionUnavailable(FallbackExhausted):
    """The caller is pinned to regions (data residency) and nothing within them could serve
    the request: no deployment of the alias (or its fallbacks) is there, or every one there
    failed. Deployments elsewhere are never tried; ``attempts`` lists the ones that were."""

    code = "region_unavailable"
    fallback = True  # another alias may have a deployment inside
    local = True

    def __init__(self, message: str, attempts: list[tuple[str, SwitchyardError]] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, attempts or [])
        self.status = 503
        self.type = "api_error"
        if retry_after is not None:
            self.retry_after = retry_after


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class ServiceUnavailable(SwitchyardError):
    status = 503
    type = "api_error"
    code = "service_unavailable"
    retryable = True
    fallback = True


class CircuitOpen(ServiceUnavailable):
    """The deployment's circuit breaker is open (or its half-open probes are taken)."""

    code = "circuit_open"
    retryable = False
    fallback = True


class ConnectionPoolFull(ServiceUnavailable):
    """Every connection the gateway may open to a deployment's upstream is busy
    (``connections.max``) and none came free within ``connections.wait``. The
    gateway's own limit: not retried on the same deployment, not counted against its
    health; another deployment may take the request."""

    code = "connection_pool_full"
    retryable = False
    fallback = True
    local = True


class RelayLost(ServiceUnavailable):
    """A request shared with another replica's upstream call (``cache.backend: redis``) lost
    it: that replica stopped relaying after the first chunks were sent (it died, or Redis
    went away). Before any chunk the request takes the call over instead."""

    code = "relay_lost"


class GuardUnavailable(ServiceUnavailable):
    """A detector failed or timed out (or the moderation classifier did) under ``on_error:
    closed``: the request was not sent. Not a deployment's fault: no fallback."""

    code = "guard_unavailable"
    retryable = False
    fallback = False
    local = True


_OPENAI_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


#: OpenAI's own 429 codes, passed on; any other upstream's becomes ``rate_limit_exceeded``.
_OPENAI_RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "insufficient_quota"})


def from_upstream_status(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> SwitchyardError:
    """The error for an upstream's non-2xx answer, by status: the one table for providers.

    ``code`` is the upstream's own; it is kept only where the client can act on it: an
    OpenAI rate-limit code, a 4xx passed on. Failures of the upstream itself get the
    gateway's codes, whatever the upstream called them."""
    kwargs: dict[str, Any] = {"code": code, "param": param, "retry_after": retry_after}
    if status == 401 or status == 403:  # the gateway's upstream credentials, never the caller's
        return UpstreamAuthError(message, upstream_status=status, param=param)
    if status == 429:
        return UpstreamRateLimited(message, param=param, retry_after=retry_after,
                                   code=code if code in _OPENAI_RATE_LIMIT_CODES else None)
    if status in (408, 504):
        return UpstreamTimeout(message, param=param, retry_after=retry_after)
    if status >= 500 or status == 529:  # 529: Anthropic "overloaded"
        return UpstreamUnavailable(message, param=param, retry_after=retry_after)
    lowered = (code or "").lower() + " " + message.lower()
    if "context_length" in lowered or "context window" in lowered or "too many tokens" in lowered:
        return ContextWindowExceeded(message, param=param, code="context_length_exceeded")
    if "content_policy" in lowered or "content_filter" in lowered or "safety" in lowered:
        return ContentPolicyViolation(message, param=param, code="content_policy_violation")
    err = UpstreamRejected(message, **kwargs)
    err.status = status
    err.type = _OPENAI_TYPE_BY_STATUS.get(status, "invalid_request_error")
    return err


def outcome(error: BaseException | None) -> tuple[int, str | None]:
    """``(status, code)`` of how a call ended, for records: 200 and None on success,
    499 when the client went away first (the task was cancelled), 500 for a bug."""
    if error is None:
        return 200, None
    if isinstance(error, SwitchyardError):
        return error.status, error.code or error.type
    if isinstance(error, asyncio.CancelledError):
        return 499, "client_disconnected"
    return 500, "internal_error"


def to_openai_body(err: SwitchyardError) -> dict[str, Any]:
    """The OpenAI-shaped body ``{"error": {...}}`` for an error; a failed fallback
    chain also lists its ``attempts`` (deployment, status, reason)."""
    body: dict[str, Any] = {
        "message": err.message,
        "type": err.type,
        "param": err.param,
        "code": err.code,
    }
    if isinstance(err, FallbackExhausted):
        body["attempts"] = [{"deployment": name, "status": e.status, "reason": e.message} for name, e in err.attempts]
    return {"error": body}

