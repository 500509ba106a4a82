"""Checks on a parsed config that need the registry (provider names, keys)."""

from __future__ import annotations

from switchyard.core.config import Config
from switchyard.core.registry import Registry, UnknownProvider


def problems_in(config: Config, registry: Registry | None = None) -> list[tuple[str, str]]:
    """``(path, reason)`` for each deployment the gateway could not build."""
    registry = registry or Registry()
    problems: list[tuple[str, str]] = []
    for alias, model in config.models.items():
        for index, deployment in enumerate(model.deployments):
            path = f"models.{alias}.deployments[{index}]"
            try:
                provider_cls = registry.get(deployment.provider)
            except UnknownProvider as exc:
                problems.append((f"{path}.provider", exc.message))
                continue
            check = getattr(provider_cls, "check_config", None)
            if check is not None:
                problems.extend((f"{path}.{field}", reason) for field, reason in check(deployment))
    return problems
