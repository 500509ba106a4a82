"""Checks across sections: every name a config refers to must exist.

Run by ``parse_config`` after the schema passed, so ``check-config`` and
``serve`` report a rule routing to a missing alias, a fallback to a missing
alias, or two deployments with one id, each with its path.
"""

from __future__ import annotations

from switchyard.core.config.root import Config


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
        if not served(config, rule.route):
            problems.append((f"routing.rules[{index}].route", f"no model alias {rule.route!r} is configured"))
        elif rule.route_tags and rule.route in config.models:
            wanted = set(rule.route_tags)
            if not any(wanted <= set(d.tags) for d in config.models[rule.route].deployments):
                problems.append((f"routing.rules[{index}].route_tags",
                                 f"no deployment of {rule.route!r} carries all of {sorted(wanted)}"))
    seen: dict[str, str] = {}
    for alias, model in config.models.items():
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
    return problems
