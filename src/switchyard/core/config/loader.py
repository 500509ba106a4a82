"""Loading a config file: YAML, ``${ENV}`` interpolation, strict validation.

Every problem is reported with its path (``models.gpt-4o.deployments[0].api_key``)
and all problems are reported at once. Secret values never appear in messages.
When the file as a whole is invalid, the deployments that are valid on their own
still travel with the error (``ConfigError.deployments``) so the checks that need
the registry (``gateway/validate.py``) can run in the same pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchyard.core.config.models import DeploymentConfig
from switchyard.core.config.references import reference_problems
from switchyard.core.config.root import Config

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is invalid; ``problems`` lists ``(path, reason)`` pairs.

    ``deployments`` holds ``(path, DeploymentConfig)`` for every deployment that is
    valid on its own although the file is not (empty when the file never parsed).
    """

    def __init__(self, problems: list[tuple[str, str]], source: str = "config",
                 deployments: list[tuple[str, DeploymentConfig]] | None = None) -> None:
        self.problems = problems
        self.source = source
        self.deployments = deployments or []
        lines = "\n".join(f"  {path or '<root>'}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def interpolate(node: Any, env: Mapping[str, str], path: tuple[Any, ...], problems: list[tuple[str, str]]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a YAML tree."""
    if isinstance(node, dict):
        return {key: interpolate(value, env, (*path, key), problems) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env, (*path, i), problems) for i, value in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append((format_path(path), f"environment variable {name} is not set"))
        return ""

    return _ENV_REF.sub(substitute, node)


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    message = str(error.get("msg", "invalid"))
    # pydantic puts the offending input in some messages; never echo it for secrets.
    # Our validators' messages come prefixed with pydantic's "Value error, ".
    return message.removeprefix("Value error, ")


def valid_deployments(data: Mapping[str, Any]) -> list[tuple[str, DeploymentConfig]]:
    """Each ``models.<alias>.deployments[i]`` of a raw tree that validates by itself, with its path."""
    found: list[tuple[str, DeploymentConfig]] = []
    models = data.get("models")
    if not isinstance(models, dict):
        return found
    for alias, model in models.items():
        deployments = model.get("deployments") if isinstance(model, dict) else None
        if not isinstance(deployments, list):
            continue
        for index, raw in enumerate(deployments):
            try:
                deployment = DeploymentConfig.model_validate(raw)
            except ValidationError:
                continue  # its schema errors are already reported with the whole file's
            found.append((format_path(("models", alias, "deployments", index)), deployment))
    return found


def parse_config(data: Any, *, source: str = "config", env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML/JSON tree into a frozen ``Config``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([("", "the config must be a mapping")], source)
    problems: list[tuple[str, str]] = []
    data = interpolate(data, os.environ if env is None else env, (), problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend((format_path(err["loc"]), _describe(dict(err))) for err in exc.errors(include_input=False))
        raise ConfigError(problems, source, valid_deployments(data)) from None
    problems.extend(reference_problems(config))
    if problems:
        raise ConfigError(problems, source, valid_deployments(data))
    return config


def _duplicate_keys(node: yaml.Node, path: tuple[Any, ...], found: list[tuple[str, str]]) -> None:
    """``(path, reason)`` for every key given twice in one mapping (YAML keeps the last, silently)."""
    if isinstance(node, yaml.MappingNode):
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in lines:
                found.append((format_path((*path, key)), f"duplicate key (line {key_node.start_mark.line + 1}; "
                                                          f"first at line {lines[key]})"))
            elif key is not None:
                lines[key] = key_node.start_mark.line + 1
            _duplicate_keys(value_node, (*path, key), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, (*path, index), found)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates: list[tuple[str, str]] = []
        if node is not None:
            _duplicate_keys(node, (), duplicates)
        if duplicates:
            raise ConfigError(duplicates, str(path))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError([("", f"invalid YAML at {where}: {getattr(exc, 'problem', exc)}")], str(path)) from None
    return parse_config(data, source=str(path), env=env)
