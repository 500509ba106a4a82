"""Checks across sections: every name a config refers to must exist.

Run by ``parse_config`` after the schema passed, so ``check-config`` and
``serve`` report a rule routing to a missing alias, a fallback to a missing
alias, or two deployments with one id, each with its path.
"""

from __future__ import annotations

from switchyard.core.config.guard import BUILTIN, OFF
from switchyard.core.config.root import Config
from switchyard.core.config.selection import SelectConfig


def served(config: Config, alias: str) -> bool:
    """Whether ``alias`` names a configured alias, or falls under a wildcard one."""
    if alias in config.models:
        return True
    return any(name.endswith("/*") and alias.startswith(name[:-1]) and len(alias) > len(name) - 1
               for name in config.models)


def reference_problems(config: Config) -> list[tuple[str, str]]:
    """``(path, reason)`` for every dangling reference and duplicate id."""
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(config.routing.rules):
        if rule.select is not None:
            problems.extend(_select_problems(config, index, rule.select))
            continue
        assert rule.route is not None
        if not served(config, rule.route):
            problems.append((f"routing.rules[{index}].route", f"no model alias {rule.route!r} is configured"))
        elif rule.route_tags and rule.route in config.models:
            wanted = set(rule.route_tags)
            if not any(wanted <= set(d.tags) for d in config.models[rule.route].deployments):
                problems.append((f"routing.rules[{index}].route_tags",
                                 f"no deployment of {rule.route!r} carries all of {sorted(wanted)}"))
    seen: dict[str, str] = {}
    experiments: dict[str, str] = {}
    for alias, model in config.models.items():
        if model.experiment is not None:
            if alias.endswith("/*"):
                problems.append((f"models.{alias}.experiment", "a wildcard alias cannot be an experiment"))
            elif model.experiment in experiments:
                problems.append((f"models.{alias}.experiment", f"experiment {model.experiment!r} is also "
                                                               f"models.{experiments[model.experiment]}'s"))
            experiments.setdefault(model.experiment, alias)
        for kind in ("default", "context_window", "content_policy"):
            for index, target in enumerate(getattr(model.fallbacks, kind)):
                if not served(config, target):
                    problems.append((f"models.{alias}.fallbacks.{kind}[{index}]",
                                     f"no model alias {target!r} is configured"))
        for index, deployment in enumerate(model.deployments):
            if deployment.id is None:
                continue
            path = f"models.{alias}.deployments[{index}].id"
            if deployment.id in seen:
                problems.append((path, f"duplicate deployment id {deployment.id!r} (also at {seen[deployment.id]})"))
            else:
                seen[deployment.id] = path
    problems.extend(_guard_problems(config))
    return problems


def _select_problems(config: Config, index: int, select: SelectConfig) -> list[tuple[str, str]]:
    """Every alias a selector may choose, and its classifier or embedding alias, must be served."""
    path = f"routing.rules[{index}].select"
    named: list[tuple[str, str | None]] = []
    if select.semantic is not None:
        named += [(f"{path}.semantic.routes.{alias}", alias) for alias in select.semantic.routes]
        named += [(f"{path}.semantic.default", select.semantic.default),
                  (f"{path}.semantic.embedding.alias", select.semantic.embedding.alias)]
    if select.classifier is not None:
        named += [(f"{path}.classifier.labels.{label}", alias) for label, alias in select.classifier.labels.items()]
        named += [(f"{path}.classifier.default", select.classifier.default),
                  (f"{path}.classifier.alias", select.classifier.alias)]
    return [(where, f"no model alias {alias!r} is configured")
            for where, alias in named if alias is not None and not served(config, alias)]


def _guard_problems(config: Config) -> list[tuple[str, str]]:
    """Every policy named must exist; every category a policy names must be detected; a moderation
    alias must be served."""
    guard = config.guard
    problems: list[tuple[str, str]] = []
    known = set(guard.policies) | {OFF}

    def check(path: str, name: str | None) -> None:
        if name is not None and name not in known:
            problems.append((path, f"no guard policy {name!r} (guard.policies has: "
                                   f"{', '.join(sorted(guard.policies)) or 'none'})"))

    check("guard.default", guard.default)
    for alias, model in config.models.items():
        check(f"models.{alias}.guard", model.guard)
    for index, key in enumerate(config.auth.keys):
        check(f"auth.keys[{index}].guard", key.guard)
    if config.mcp is not None:
        check("mcp.guard", config.mcp.guard)
    categories = set(BUILTIN) | {d.name for d in guard.detectors}
    plugins = any(d.plugin is not None for d in guard.detectors)  # their categories are their own
    for name, policy in guard.policies.items():
        named = [("categories", policy.categories), ("actions", None if plugins else list(policy.actions)),
                 ("output.categories", policy.output.categories if policy.output else None)]
        for field, values in named:
            for value in values or ():
                if value not in categories:
                    problems.append((f"guard.policies.{name}.{field}",
                                     f"unknown category {value!r}: a built-in ({', '.join(BUILTIN)}) or a "
                                     f"guard.detectors name"))
        if policy.moderation is not None and not served(config, policy.moderation.alias):
            problems.append((f"guard.policies.{name}.moderation.alias",
                             f"no model alias {policy.moderation.alias!r} is configured"))
    return problems
