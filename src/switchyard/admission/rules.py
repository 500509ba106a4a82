"""Which limits apply to a request: the rule book, indexed once from the config.

Scopes: ``global`` (one bucket for everything), ``key`` (the client key's
name), ``team``, ``tenant``, ``user`` (the request's ``user`` field), ``model``
(the alias asked for), ``deployment`` (the upstream, checked when it is tried).
A rule without ``match`` gives every value of its scope a bucket of its own;
a rule with ``match`` replaces it for that one value.
"""

from __future__ import annotations

from collections.abc import Iterable

from switchyard.core.config.limits import LimitRule
from switchyard.storage.limits.gcra import KINDS, Bucket

CLIENT_SCOPES = ("global", "key", "team", "tenant", "user", "model")
_CACHE_MAX = 10_000


def buckets_of(rule: LimitRule, scope: str, subject: str) -> list[Bucket]:
    out = []
    for kind in ("rpm", "tpm", "tpd"):
        limit = getattr(rule, kind)
        if limit is not None:
            out.append(Bucket(f"{scope}:{subject}:{kind}", scope, subject, kind, limit, KINDS[kind][0], rule.hard))
    return out


class RuleBook:
    """Maps a request's subjects (key, tenant, user...) to the buckets it must pass."""

    def __init__(self, rules: Iterable[LimitRule]) -> None:
        self._catch_all: dict[str, LimitRule] = {}
        self._named: dict[tuple[str, str], LimitRule] = {}
        for rule in rules:
            if rule.match is None:
                self._catch_all[rule.scope] = rule
            else:
                self._named[(rule.scope, rule.match)] = rule
        scopes = {rule.scope for rule in rules if rule.scope in CLIENT_SCOPES}
        self.scopes = tuple(s for s in CLIENT_SCOPES if s in scopes)
        self._cache: dict[tuple[str | None, ...], tuple[Bucket, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.scopes)

    def rule_for(self, scope: str, subject: str) -> LimitRule | None:
        return self._named.get((scope, subject)) or self._catch_all.get(scope)

    def buckets(self, subjects: tuple[str | None, ...]) -> tuple[Bucket, ...]:
        """Buckets for ``subjects``, one value per scope of ``self.scopes`` (None: not applicable)."""
        found = self._cache.get(subjects)
        if found is not None:
            return found
        out: list[Bucket] = []
        for scope, subject in zip(self.scopes, subjects):
            if subject is None:
                continue
            rule = self.rule_for(scope, subject)
            if rule is not None:
                out.extend(buckets_of(rule, scope, subject))
        result = tuple(out)
        if len(self._cache) >= _CACHE_MAX:  # users are chosen by clients: stay bounded
            self._cache.clear()
        self._cache[subjects] = result
        return result
