"""Gemini on Vertex AI: the Gemini wire format at a project/location path, with a
service-account OAuth token (see ``google_auth``) instead of an API key.

Config (``options``; each falls back to the environment as shown)::

    models:
      gemini-vertex:
        deployments:
          - provider: vertex
            model: gemini-2.5-flash
            options:
              project: my-project          # or the key file's project_id, or GOOGLE_CLOUD_PROJECT
              location: europe-west4       # or GOOGLE_CLOUD_LOCATION; default us-central1
              credentials: /secrets/sa.json  # or inline JSON; or GOOGLE_APPLICATION_CREDENTIALS
              task_type: RETRIEVAL_DOCUMENT  # optional, for embeddings

``base_url`` replaces ``https://{location}-aiplatform.googleapis.com/v1``.
Embeddings use the ``:predict`` endpoint of text-embedding models.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import InvalidRequest, SwitchyardError
from switchyard.core.messages import EmbeddingRequest, EmbeddingResponse
from switchyard.providers import gemini_format as wire
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.gemini import GeminiProvider
from switchyard.providers.google_auth import ServiceAccount, TokenSource

OPTIONS = ("project", "location", "credentials", "task_type", "token_margin")
DEFAULT_LOCATION = "us-central1"


class VertexOptions:
    """``options`` of a vertex deployment, validated (errors name ``options.<key>``)."""

    def __init__(self, options: dict[str, Any], env: Any = os.environ) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidRequest(f"unknown vertex option(s) {unknown}; known: {', '.join(OPTIONS)}",
                                 param=f"options.{unknown[0]}")
        source = options.get("credentials") or env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not source:
            raise InvalidRequest("required: a service-account key file path or inline JSON "
                                 "(or set GOOGLE_APPLICATION_CREDENTIALS)", param="options.credentials")
        self.account = ServiceAccount.load(source)
        self.project = options.get("project") or self.account.project_id or env.get("GOOGLE_CLOUD_PROJECT")
        if not self.project or not isinstance(self.project, str):
            raise InvalidRequest("required: the Google Cloud project id (or the key file's project_id, "
                                 "or GOOGLE_CLOUD_PROJECT)", param="options.project")
        self.location = options.get("location") or env.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
        if not isinstance(self.location, str) or "/" in self.location:
            raise InvalidRequest("must be a region name such as us-central1, or global", param="options.location")
        margin = options.get("token_margin", 300)
        if not isinstance(margin, (int, float)) or margin < 0:
            raise InvalidRequest("must be a number of seconds >= 0", param="options.token_margin")
        self.token_margin = float(margin)


class VertexProvider(GeminiProvider):
    """One Gemini model on Vertex AI."""

    name: ClassVar[str] = "vertex"
    env_key: ClassVar[str | None] = None
    env_keys: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str | None] = None

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        self.options = VertexOptions(deployment.options)
        super().__init__(deployment, http)
        if not self.base_url:
            host = "aiplatform.googleapis.com" if self.options.location == "global" else f"{self.options.location}-aiplatform.googleapis.com"
            self.base_url = f"https://{host}/v1"
        self.tokens = TokenSource(self.options.account, http, margin=self.options.token_margin)

    def _resolve_key(self, deployment: DeploymentConfig) -> str | None:
        return None

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        try:
            VertexOptions(deployment.options)
        except SwitchyardError as exc:
            return [(exc.param or "options", exc.message)]
        return []

    def auth_headers(self) -> dict[str, str]:
        return {}

    async def request_headers(self, url: str, payload: bytes, *, stream: bool) -> dict[str, str]:
        headers = self.stream_headers if stream else self.headers
        return {**headers, "authorization": f"Bearer {await self.tokens.token()}"}

    def url(self, operation: str) -> str:
        model = self.deployment.model
        if not model.startswith("publishers/"):
            model = f"publishers/google/models/{model}"
        return f"{self.base_url}/projects/{self.options.project}/locations/{self.options.location}/{model}:{operation}"

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = shapes.embedding_inputs(request.body)
        body = wire.build_vertex_embed_request(texts, request.body, self.deployment.options)
        response = await self._post(self.url("predict"), body, call)
        return wire.parse_vertex_embed_response(
            response.content, self.deployment.model, texts, request.body.get("encoding_format")
        )
