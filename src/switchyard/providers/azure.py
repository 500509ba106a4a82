"""Azure OpenAI: deployment names in the path, ``api-version`` in the query, ``api-key`` header."""

from __future__ import annotations

import os
from typing import ClassVar

from switchyard.providers.openai_compatible import OpenAICompatibleProvider

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """``base_url`` is the resource endpoint (``https://NAME.openai.azure.com``);
    ``model`` is the Azure deployment name."""

    name: ClassVar[str] = "azure"
    env_key: ClassVar[str | None] = "AZURE_OPENAI_API_KEY"
    auth_header: ClassVar[str] = "api-key"
    auth_prefix: ClassVar[str] = ""
    key_required: ClassVar[bool] = True

    def __init__(self, deployment, http=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, http)
        if not self.base_url:
            self.base_url = os.environ.get("AZURE_OPENAI_ENDPOINT", "").rstrip("/")
        self.api_version = deployment.api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION

    def url(self, operation: str) -> str:
        return (
            f"{self.base_url}/openai/deployments/{self.deployment.model}/{operation}"
            f"?api-version={self.api_version}"
        )
