"""Model aliases and their deployments, built once from the config.

An alias ending in ``/*`` is a wildcard: ``openai/*`` serves ``openai/gpt-4o``
with the upstream model ``gpt-4o`` (a deployment whose ``model`` is ``*``).
Wildcard deployments are built on first use and then kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchyard.core.config import Config, DeploymentConfig, ModelConfig
from switchyard.core.errors import NotFound
from switchyard.core.registry import Registry
from switchyard.pricing.sheet import UNPRICED, PriceSheet
from switchyard.routing.health import DeploymentHealth
from switchyard.routing.load import DeploymentLoad

MAX_WILDCARD_GROUPS = 1024

#: ``make(deployment_id, alias, config) -> Deployment``: builds one deployment complete.
MakeDeployment = Callable[[str, str, DeploymentConfig], "Deployment"]


@dataclass(eq=False)
class Deployment:
    """One upstream model, ready to call.

    ``adapter`` is the bare provider adapter; ``chain`` is what the pipeline
    calls: the adapter behind the per-deployment policies (``policies/chain.py``;
    ``chain.unary(call)`` / ``await chain.stream(call)``). ``health`` is what
    routing consults; ``price`` what its answers cost. Built complete by the
    gateway's deployment factory.
    """

    id: str
    alias: str
    config: DeploymentConfig
    adapter: Any
    chain: Any = None
    health: DeploymentHealth = field(default_factory=DeploymentHealth)
    #: In-flight calls, latency EWMAs and rate window, for the balancers.
    load: DeploymentLoad = None  # type: ignore[assignment]
    #: What its answers cost (``switchyard.pricing``), resolved when it was built.
    price: PriceSheet = UNPRICED

    def __post_init__(self) -> None:
        if self.load is None:
            self.load = DeploymentLoad(config=self.config, price=self.price)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "health":  # routing caches availability: the old health's watchers must ask again
            _replaced(self.__dict__.get("health"))
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name == "health":
            _replaced(self.__dict__.get("health"))
        object.__delattr__(self, name)

    @property
    def region(self) -> str | None:
        return self.config.region

    @property
    def weight(self) -> float:
        return self.config.weight

    @property
    def provider_name(self) -> str:
        return self.config.provider

    @property
    def upstream_model(self) -> str:
        return self.config.model

    def __repr__(self) -> str:
        return f"Deployment({self.id!r})"


@dataclass(eq=False)
class ModelGroup:
    """An alias and the deployments that can serve it."""

    alias: str
    config: ModelConfig
    deployments: list[Deployment] = field(default_factory=list)


class Catalog:
    """Resolves what a client asks for (``model``) to a model group."""

    def __init__(self, config: Config, registry: Registry, make: MakeDeployment) -> None:
        self._registry = registry
        #: Builds each deployment with its adapter, health and policy chain.
        self._make = make
        self.groups: dict[str, ModelGroup] = {}
        self._wildcards: list[tuple[str, ModelConfig]] = []
        self._wildcard_groups: dict[str, ModelGroup] = {}
        for alias, model_config in config.models.items():
            if alias.endswith("/*"):
                self._wildcards.append((alias[:-1], model_config))
            else:
                self.groups[alias] = self._build(alias, model_config, None)
        self._wildcards.sort(key=lambda item: -len(item[0]))

    def _build(self, alias: str, model_config: ModelConfig, suffix: str | None) -> ModelGroup:
        group = ModelGroup(alias=alias, config=model_config)
        for index, deployment_config in enumerate(model_config.deployments):
            if suffix is not None and deployment_config.model == "*":
                deployment_config = deployment_config.model_copy(update={"model": suffix})
            deployment_id = deployment_config.id or f"{alias}#{index}"
            group.deployments.append(self._make(deployment_id, alias, deployment_config))
        return group

    def resolve(self, model: str) -> ModelGroup:
        """The group for ``model``; NotFound (404) when nothing serves it."""
        group = self.groups.get(model)
        if group is not None:
            return group
        group = self._wildcard_groups.get(model)
        if group is not None:
            return group
        for prefix, model_config in self._wildcards:
            if model.startswith(prefix) and len(model) > len(prefix):
                group = self._build(model, model_config, model[len(prefix):])
                if len(self._wildcard_groups) >= MAX_WILDCARD_GROUPS:
                    # Bounded: clients choose these names; the oldest is dropped.
                    self._wildcard_groups.pop(next(iter(self._wildcard_groups)))
                self._wildcard_groups[model] = group
                return group
        raise NotFound(f"The model `{model}` does not exist or you do not have access to it.",
                       param="model", code="model_not_found")

    def aliases(self) -> list[str]:
        """Every alias a client can name; a wildcard as its provider's known models,
        or as ``prefix/*`` when the provider lists none."""
        listed = sorted(self.groups)
        for prefix, model_config in self._wildcards:
            known: tuple[str, ...] = ()
            if len(model_config.deployments) == 1:
                provider_cls = self._registry.get(model_config.deployments[0].provider)
                known = getattr(provider_cls, "known_models", ())
            if known:
                listed.extend(prefix + name for name in known)
            else:
                listed.append(prefix + "*")
        return listed

    def deployments(self) -> list[Deployment]:
        """Every deployment built so far: the configured aliases' and the wildcard ones made on demand."""
        groups = [*self.groups.values(), *self._wildcard_groups.values()]
        return [d for group in groups for d in group.deployments]

    async def aclose(self) -> None:
        for deployment in self.deployments():
            await deployment.adapter.aclose()


def _replaced(health: Any) -> None:
    changed = getattr(health, "changed", None)
    if changed is not None:
        changed()

