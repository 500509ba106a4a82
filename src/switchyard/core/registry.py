"""Registries of plugins: names to classes or factories, loaded lazily.

Core names its built-ins by import path only and never imports them itself;
third-party packages add their own through entry points
(``name = "package.module:Class"``) in these groups:

==========================  ======================================================
``switchyard.providers``    provider adapters, by ``provider:`` name (``Registry``)
``switchyard.stages``       request-pipeline stages, by ``pipeline.stages[].name``
``switchyard.stores``       storage backends, by URL scheme (``switchyard.storage``)
``switchyard.detectors``    guard detectors, by ``guard.detectors[].plugin``
``switchyard.components``   retrieval components, by ``role:name`` (``loader:pdf``)
``switchyard.flow_steps``   the steps YAML flows name, by ``step:`` (``flows/steps.py``)
==========================  ======================================================

Components share one group and qualify their names by role (``loader``,
``splitter``, ``embedder``, ``index``, ``retriever``, ``reranker``): a plugin
package declares all its components in one table, a name says what it is
wherever it appears (an error lists the known names of that role), and the
roles stay open for new ones without a new group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from switchyard.core.errors import InvalidRequest

ENTRY_POINT_GROUP = "switchyard.providers"
STAGES_GROUP = "switchyard.stages"
DETECTORS_GROUP = "switchyard.detectors"
COMPONENTS_GROUP = "switchyard.components"

#: The roles of ``switchyard.components`` names (``role:name``).
COMPONENT_ROLES = ("loader", "splitter", "embedder", "index", "retriever", "reranker")

BUILTIN_COMPONENTS: dict[str, str] = {
    "loader:text": "switchyard.components.loaders:TextLoader",
    "loader:markdown": "switchyard.components.loaders:MarkdownLoader",
    "loader:html": "switchyard.components.loaders:HtmlLoader",
    "loader:pdf": "switchyard.components.loaders:PdfLoader",
    "loader:csv": "switchyard.components.loaders:CsvLoader",
    "loader:jsonl": "switchyard.components.loaders:JsonLinesLoader",
    "loader:directory": "switchyard.components.directory:DirectoryLoader",
    "splitter:tokens": "switchyard.components.splitters:TokenSplitter",
    "splitter:markdown": "switchyard.components.splitters:MarkdownSplitter",
    "splitter:code": "switchyard.components.splitters:CodeSplitter",
    "embedder:alias": "switchyard.components.embedders:AliasEmbedder",
    "embedder:minilm": "switchyard.components.embedders:MiniLMEmbedder",
    "index:memory": "switchyard.components.index_memory:ExactIndex",
    "index:usearch": "switchyard.components.index_usearch:UsearchIndex",
    "index:sql": "switchyard.components.index_sql:SqlIndex",
    "retriever:vector": "switchyard.components.retrievers:VectorRetriever",
    "retriever:bm25": "switchyard.components.bm25:BM25Retriever",
    "retriever:hybrid": "switchyard.components.retrievers:HybridRetriever",
    "reranker:llm": "switchyard.components.rerankers:LLMReranker",
    "reranker:alias": "switchyard.components.rerankers:AliasReranker",
}

BUILTIN_DETECTORS: dict[str, str] = {
    "presidio": "switchyard.guard.presidio:PresidioDetector",
}

BUILTIN_PROVIDERS: dict[str, str] = {
    "fake": "switchyard.providers.fake:FakeProvider",
    "openai": "switchyard.providers.openai:OpenAIProvider",
    "azure": "switchyard.providers.azure:AzureOpenAIProvider",
    "vllm": "switchyard.providers.vendors:VLLM",
    "ollama": "switchyard.providers.vendors:Ollama",
    "together": "switchyard.providers.vendors:Together",
    "groq": "switchyard.providers.vendors:Groq",
    "mistral": "switchyard.providers.vendors:Mistral",
    "deepseek": "switchyard.providers.vendors:DeepSeek",
    "fireworks": "switchyard.providers.vendors:Fireworks",
    "openrouter": "switchyard.providers.vendors:OpenRouter",
    "openai_compatible": "switchyard.providers.vendors:OpenAICompatible",
    "huggingface": "switchyard.providers.vendors:HuggingFace",
    "ai21": "switchyard.providers.vendors:AI21",
    "runpod": "switchyard.providers.vendors:RunPod",
    "replicate": "switchyard.providers.replicate:ReplicateProvider",
    "gemini": "switchyard.providers.gemini:GeminiProvider",
    "vertex": "switchyard.providers.vertex:VertexProvider",
    "cohere": "switchyard.providers.cohere:CohereProvider",
    "anthropic": "switchyard.providers.anthropic:AnthropicProvider",
    "bedrock": "switchyard.providers.bedrock:BedrockProvider",
    "ollama_chat": "switchyard.providers.ollama:OllamaChatProvider",
}


class UnknownProvider(InvalidRequest):
    code = "unknown_provider"


class UnknownPlugin(InvalidRequest):
    code = "unknown_plugin"


class Plugins:
    """Maps names to classes (or factories) of one entry-point group; built-ins
    first, then entry points (which never shadow a built-in), then ``extra``.
    One instance per app, no global state."""

    #: What the registry holds, for error messages.
    kind = "plugin"
    error: type[InvalidRequest] = UnknownPlugin
    param: str | None = None

    def __init__(self, group: str, builtins: dict[str, str | Any] | None = None,
                 extra: dict[str, str | Any] | None = None, *, use_entry_points: bool = True) -> None:
        self.group = group
        self._targets: dict[str, str | Any] = dict(builtins or {})
        if use_entry_points:
            for ep in entry_points(group=group):
                self._targets.setdefault(ep.name, ep.value)
        if extra:
            self._targets.update(extra)
        self._loaded: dict[str, Any] = {}

    def names(self) -> list[str]:
        return sorted(self._targets)

    def register(self, name: str, target: str | Any) -> None:
        self._targets[name] = target
        self._loaded.pop(name, None)

    def get(self, name: str) -> Any:
        """The class (or factory) registered under ``name``."""
        cls = self._loaded.get(name)
        if cls is not None:
            return cls
        target = self._targets.get(name)
        if target is None:
            known = ", ".join(self.names()) or "none installed"
            raise self.error(f"Unknown {self.kind} {name!r}; known {self.kind}s: {known}", param=self.param)
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
        else:
            cls = target
        self._loaded[name] = cls
        return cls


class Registry(Plugins):
    """Provider names to adapter classes (``switchyard.providers``)."""

    kind = "provider"
    error = UnknownProvider
    param = "provider"

    def __init__(self, extra: dict[str, str | type] | None = None, *, use_entry_points: bool = True) -> None:
        super().__init__(ENTRY_POINT_GROUP, BUILTIN_PROVIDERS, extra, use_entry_points=use_entry_points)


class StageRegistry(Plugins):
    """Third-party request stages (``switchyard.stages``): each a factory
    ``factory(options: dict, context: StageContext) -> Stage`` (``core/stage.py``,
    ``pipeline/order.py``), e.g. the stage class."""

    kind = "stage"
    param = "pipeline.stages"

    def __init__(self, extra: dict[str, str | Any] | None = None, *, use_entry_points: bool = True) -> None:
        super().__init__(STAGES_GROUP, None, extra, use_entry_points=use_entry_points)


class DetectorRegistry(Plugins):
    """Guard detectors besides the built-in ones (``switchyard.detectors``): each a factory
    ``factory(options: dict) -> detector`` whose ``async detect(texts)`` returns, per text,
    ``(start, end, category)`` findings (``switchyard/guard/detection.py``)."""

    kind = "detector"
    param = "guard.detectors"

    def __init__(self, extra: dict[str, str | Any] | None = None, *, use_entry_points: bool = True) -> None:
        super().__init__(DETECTORS_GROUP, BUILTIN_DETECTORS, extra, use_entry_points=use_entry_points)


class UnknownComponent(InvalidRequest):
    code = "unknown_component"


class ComponentRegistry(Plugins):
    """Retrieval components by ``role:name`` (``switchyard.components``): each a factory
    ``factory(**options)`` (the class); ``get(role, name)`` qualifies a bare name."""

    kind = "component"
    error = UnknownComponent

    def __init__(self, extra: dict[str, str | Any] | None = None, *, use_entry_points: bool = True) -> None:
        super().__init__(COMPONENTS_GROUP, BUILTIN_COMPONENTS, extra, use_entry_points=use_entry_points)
        for name in self._targets:
            role = name.partition(":")[0]
            if role not in COMPONENT_ROLES:
                raise UnknownComponent(f"Component {name!r} has no known role; the roles are "
                                       f"{', '.join(COMPONENT_ROLES)} (name it role:name)", param="components")

    def of_role(self, role: str) -> list[str]:
        """The names (without the role) registered for ``role``."""
        return [n.partition(":")[2] for n in self.names() if n.partition(":")[0] == role]

    def component(self, role: str, name: str) -> Any:
        """The factory of ``role:name``; an unknown one names the known names of its role."""
        qualified = f"{role}:{name}"
        if qualified not in self._targets:
            known = ", ".join(self.of_role(role)) or "none installed"
            raise UnknownComponent(f"Unknown {role} {name!r}; known {role}s: {known}", param=role)
        return self.get(qualified)
