"""OpenAI itself."""

from __future__ import annotations

from typing import ClassVar

from switchyard.providers.openai_compatible import OpenAICompatibleProvider


class OpenAIProvider(OpenAICompatibleProvider):
    """api.openai.com; ``options.organization`` and ``options.project`` become headers."""

    name: ClassVar[str] = "openai"
    env_key: ClassVar[str | None] = "OPENAI_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    key_required: ClassVar[bool] = True

    def extra_headers(self) -> dict[str, str]:
        options = self.deployment.options
        headers = {}
        if options.get("organization"):
            headers["openai-organization"] = str(options["organization"])
        if options.get("project"):
            headers["openai-project"] = str(options["project"])
        return headers
