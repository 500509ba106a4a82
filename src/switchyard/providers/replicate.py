"""Replicate's predictions API (``https://api.replicate.com/v1``); ``Authorization: Bearer``.

Config::

    models:
      llama-replicate:
        deployments:
          - provider: replicate
            model: meta/meta-llama-3-70b-instruct   # owner/name, or owner/name:version
            # api_key: or REPLICATE_API_TOKEN
            options:
              deployment: acme/my-llama     # optional: a deployment's predictions instead
              input: {prompt_template: "{prompt}"}   # optional: fixed inputs of the model
              max_tokens_input: max_new_tokens       # optional: the model's name for max_tokens

A unary answer creates the prediction with ``Prefer: wait`` (Replicate holds the request
up to 60 s, within the call's deadline); a prediction still running then is polled at
its ``urls.get`` (every 0.25 s, doubling to 2 s) until it ends or the deadline passes. A
stream creates it with ``"stream": true`` and reads its ``urls.stream`` (SSE). The
translation is ``replicate_format``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError, UpstreamTimeout
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk
from switchyard.providers import replicate_format as wire
from switchyard.providers.native import NativeProvider

#: Seconds Replicate holds a ``Prefer: wait`` request at most.
MAX_WAIT = 60
FIRST_POLL, LAST_POLL = 0.25, 2.0


class ReplicateProvider(NativeProvider):
    """One Replicate model, version or deployment (``base_url``: the API root, with ``/v1``)."""

    name: ClassVar[str] = "replicate"
    env_key: ClassVar[str | None] = "REPLICATE_API_TOKEN"
    env_keys: ClassVar[tuple[str, ...]] = ("REPLICATE_API_TOKEN",)
    default_base_url: ClassVar[str | None] = "https://api.replicate.com/v1"
    parse_error = staticmethod(wire.parse_error)

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        self.set_headers({"authorization": f"Bearer {self.api_key}"} if self.api_key else {})
        path, self._extra = wire.prediction_path(deployment.model, deployment.options.get("deployment"))
        self.create_url = f"{self.base_url}{path}"

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        problems = super().check_config(deployment)
        target = deployment.options.get("deployment")
        if target is not None and (not isinstance(target, str) or target.count("/") != 1):
            problems.append(("options.deployment", "must name a Replicate deployment as owner/name"))
        elif target is None and deployment.model != "*" and deployment.model.partition(":")[0].count("/") != 1:
            problems.append(("model", "must be a Replicate model as owner/name or owner/name:version"))
        return problems

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body = {**self._extra, "input": wire.build_input(request, self.deployment.options)}
        if stream:
            body["stream"] = True
        return body

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        remaining = call.remaining()
        wait = MAX_WAIT if remaining is None else max(1, min(MAX_WAIT, int(remaining)))
        response = await self._post(self.create_url, self._body(request, False), call, {"prefer": f"wait={wait}"})
        prediction = wire.parse_prediction(response.content)
        if prediction["status"] not in wire.TERMINAL:
            prediction = await self._poll(prediction, call)
        if prediction["status"] != "succeeded":
            raise wire.failed(prediction)
        limit = request.body.get("max_completion_tokens") or request.body.get("max_tokens")
        return wire.to_response(prediction, self.deployment.model, limit)

    async def _poll(self, prediction: dict[str, Any], call: Call) -> dict[str, Any]:
        url = (prediction.get("urls") or {}).get("get")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise UpstreamProtocolError("Replicate sent a running prediction without a urls.get to follow")
        delay = FIRST_POLL
        while prediction["status"] not in wire.TERMINAL:
            remaining = call.remaining()
            if remaining is not None and remaining <= delay:
                raise UpstreamTimeout(f"Replicate prediction {prediction.get('id', '?')} was still "
                                      f"{prediction['status']} at the deadline")
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_POLL)
            response = await self.driver.send(url, b"", self.headers, call, method="GET")
            prediction = wire.parse_prediction(response.content)
        return prediction

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        response = await self._post(self.create_url, self._body(request, True), call)
        prediction = wire.parse_prediction(response.content)
        if prediction["status"] in ("failed", "canceled", "aborted"):
            raise wire.failed(prediction)
        url = (prediction.get("urls") or {}).get("stream")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise UpstreamProtocolError("Replicate sent no urls.stream: this model does not stream")
        reader = wire.PredictionEvents(self.deployment.model, str(prediction.get("id") or "replicate"))
        return await self.driver.open(url, b"", self.stream_headers, call, reader, method="GET")
