"""The base of adapters whose upstream speaks its own wire format.

A subclass supplies data and pure functions — URLs, ``parse_error``, the
response headers it keeps (``kept_headers``), its own headers
(``set_headers``, or ``request_headers`` when they depend on the request, as a
signature or a fresh token does) — and per stream a ``StreamReader`` (see
``driver``) that turns the upstream's bytes into chunks. ``_post`` and
``_open`` encode the body, add the headers and hand the exchange to the shared
``Driver``, the one the OpenAI adapters use too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import Chunk
from switchyard.providers.base import Provider
from switchyard.providers.driver import Driver, StreamReader


class NativeProvider(Provider):
    """Shared plumbing; subclasses set ``parse_error`` and build URLs and bodies."""

    parse_error: ClassVar[staticmethod[[int, bytes, Callable[[str], str | None]], SwitchyardError]]
    #: The ``accept`` of a streamed request.
    stream_accept: ClassVar[str] = "text/event-stream"
    #: Environment variables that may hold the key, in order (the first non-empty
    #: one wins); when set, a deployment without a key in any of them is refused.
    env_keys: ClassVar[tuple[str, ...]] = ()
    #: Upstream response headers worth keeping, by the name they are kept under.
    kept_headers: ClassVar[Mapping[str, str]] = {}

    headers: dict[str, str]
    stream_headers: dict[str, str]

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        self.driver = Driver(http, deployment.timeouts, type(self).parse_error, self.kept_headers)

    def _resolve_key(self, deployment: DeploymentConfig) -> str | None:
        if deployment.api_key is not None or not self.env_keys:
            return super()._resolve_key(deployment)
        return next((os.environ[k] for k in self.env_keys if os.environ.get(k)), None)

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        if not cls.env_keys or deployment.api_key is not None or any(os.environ.get(k) for k in cls.env_keys):
            return []
        first, *rest = cls.env_keys
        also = f" (or {' or '.join(rest)})" if rest else ""
        return [("api_key", f"required: set api_key or the {first}{also} environment variable")]

    def set_headers(self, own: dict[str, str]) -> None:
        """The headers of every request: JSON content, then ``own`` (version,
        credentials), then the deployment's ``headers``, which win."""
        headers = {"content-type": "application/json", "accept": "application/json", **own}
        headers.update({k.lower(): v.get_secret_value() for k, v in self.deployment.headers.items()})
        self.headers = headers
        self.stream_headers = {**headers, "accept": self.stream_accept}

    async def request_headers(self, url: str, payload: bytes, *, stream: bool) -> dict[str, str]:
        """Headers of one upstream request (credentials included)."""
        return self.stream_headers if stream else self.headers

    async def _post(self, url: str, body: dict[str, Any], call: Call, extra: dict[str, str] | None = None) -> Any:
        """POST ``body``; the response, or the upstream's error raised as a core error."""
        payload = orjson.dumps(body)
        headers = await self.request_headers(url, payload, stream=False)
        return await self.driver.send(url, payload, {**headers, **extra} if extra else headers, call)

    async def _open(
        self, url: str, body: dict[str, Any], call: Call, reader: StreamReader, extra: dict[str, str] | None = None
    ) -> AsyncIterator[Chunk]:
        """POST ``body`` for a stream: resolves once the upstream accepted it, to the chunks."""
        payload = orjson.dumps(body)
        headers = await self.request_headers(url, payload, stream=True)
        return await self.driver.open(url, payload, {**headers, **extra} if extra else headers, call, reader)
