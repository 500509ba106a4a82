"""The guard's policies, built once from the config, and which one a request gets.

Which policy, first that applies: the caller's own (a static key's ``guard``; a virtual
key's, else its team's, else its tenant's ``guard`` metadata), the alias's
(``models.<alias>.guard``; a fallback alias serves under the policy of the alias
asked for), ``guard.default``. ``off`` is no policy. A caller naming a policy the
config does not define is refused (``503 guard_unavailable``), never let through.

Each policy holds its detectors (``Detection``: the built-in and custom ones in one
scanner, plugins apart), the action per category, what to do when a detector fails,
its output guard and its moderation check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config import Config
from switchyard.core.config.guard import BUILTIN, OFF, GuardDetector, GuardPolicy
from switchyard.core.errors import GuardUnavailable
from switchyard.core.registry import DetectorRegistry
from switchyard.guard.custom import DenyList, RegexDetector
from switchyard.guard.detection import Detection, Detector
from switchyard.guard.moderation import Moderator
from switchyard.guard.scanner import CustomDetector, Scanner


@dataclass(frozen=True, slots=True)
class OutputRule:
    scanner: Scanner
    block: bool
    holdback: int


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    detection: Detection
    action: str
    actions: dict[str, str]
    fail_open: bool
    output: OutputRule | None = None
    moderation: Moderator | None = None

    def action_for(self, category: str) -> str:
        return self.actions.get(category, self.action)


class Policies:
    """Every policy of the config, and the lookup per call."""

    def __init__(self, config: Config, registry: DetectorRegistry | None = None, *, catalog: Any = None,
                 route: Any = None) -> None:
        guard = config.guard
        custom: list[CustomDetector] = []
        self.plugins: dict[str, Detector] = {}
        registry = registry or DetectorRegistry()
        for detector in guard.detectors:
            if detector.plugin is not None:
                self.plugins[detector.name] = _plugin(registry, detector)
            else:
                custom.append(_custom(detector))
        everything = [*BUILTIN, *(d.name for d in guard.detectors)]
        self.policies: dict[str, Policy] = {
            name: self._build(name, policy, everything, custom, catalog, route) for name, policy in guard.policies.items()}
        self.default = self.named(guard.default) if guard.default is not None else None
        #: Per alias config (by identity: every instance of a wildcard alias shares it): its policy.
        self._by_alias: dict[int, Policy | None] = {
            id(model): self.named(model.guard) for model in config.models.values() if model.guard is not None}

    def _build(self, name: str, policy: GuardPolicy, everything: list[str], custom: Sequence[CustomDetector],
               catalog: Any, route: Any) -> Policy:
        categories = policy.categories or everything
        plugins = [(c, self.plugins[c]) for c in categories if c in self.plugins]
        detection = Detection(Scanner([c for c in categories if c not in self.plugins], custom), plugins,
                              policy.timeout)
        output = None
        if policy.output is not None:
            watched = [c for c in (policy.output.categories or categories) if c not in self.plugins]
            output = OutputRule(Scanner(watched, custom), policy.output.action == "block", policy.output.holdback)
        moderation = Moderator(policy.moderation, catalog, route) if policy.moderation is not None else None
        return Policy(name, detection, policy.action, dict(policy.actions), policy.on_error == "open", output,
                      moderation)

    def named(self, name: str | None) -> Policy | None:
        if name is None or name == OFF:
            return None
        policy = self.policies.get(name)
        if policy is None:
            raise GuardUnavailable(f"The guard policy `{name}` this caller is assigned is not configured "
                                   f"(guard.policies); the request was not sent.")
        return policy

    def for_call(self, call: Call) -> Policy | None:
        """The policy of ``call`` (see the module docstring); None: no guard."""
        caller = call.caller
        named = getattr(caller, "guard", None) if caller is not None else None
        if named is not None:
            return self.named(named)
        group = call.group
        if group is not None:
            by_alias = self._by_alias.get(id(group.config), self)
            if by_alias is not self:
                return by_alias  # type: ignore[return-value]
        return self.default

    async def aclose(self) -> None:
        for plugin in self.plugins.values():
            close = getattr(plugin, "aclose", None)
            if close is not None:
                await close()


def _custom(detector: GuardDetector) -> CustomDetector:
    if detector.regex is not None:
        return RegexDetector(detector.name, detector.regex, ignore_case=bool(detector.ignore_case))
    return DenyList(detector.name, detector.deny or (),
                    ignore_case=True if detector.ignore_case is None else detector.ignore_case)


def _plugin(registry: DetectorRegistry, detector: GuardDetector) -> Detector:
    factory = registry.get(detector.plugin or "")
    built: Detector = factory(dict(detector.options))
    return built
