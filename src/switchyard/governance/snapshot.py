"""The directory in memory: what the request path reads, and what the admin API lists.

``find(digest)`` is the authenticator's ``KeySource``: one dict lookup from a
presented key's SHA-256 to its prebuilt ``Caller`` (models, tier, limits,
budgets, tags — everything a policy reads), so authenticating a virtual key
costs what a static one does, whatever the number of keys. A revoked key's
digests map to a refusal instead; an expired one is refused by its
``expires_at`` at lookup.

``apply(records)`` takes changed records (``Directory.changes``) and rebuilds
the callers they affect: a key's own; every key of a team, user or tenant
that changed. Parts shared by many keys (a team's limit buckets and budget)
are built once per revision of their entity and shared. The snapshot only
ever grows by what the directory holds: its size is the directory's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from typing import Any

from switchyard.admission.rules import buckets_of
from switchyard.auth import Caller
from switchyard.core.config.limits import LimitRule
from switchyard.core.errors import AuthenticationFailed
from switchyard.governance.entities import BudgetLimit, Entity, Key, Team, Tenant, User
from switchyard.storage.limits.gcra import Bucket

_Parts = tuple[tuple[Bucket, ...], tuple[BudgetLimit, ...]]


def pinned_regions(metadata: Iterable[dict[str, str]]) -> frozenset[str] | None:
    """The regions a key may use: where the ``regions`` metadata (comma-separated) of the key,
    its team and its tenant all agree — each narrows, none widens. None: not pinned."""
    out: frozenset[str] | None = None
    for entry in metadata:
        listed = entry.get("regions")
        if listed is None:
            continue
        regions = frozenset(r.strip() for r in listed.split(",") if r.strip())
        out = regions if out is None else out & regions
    return out




class KeySnapshot:
    """Every tenant, team, user and key of the directory, and the callers of the keys."""

    def __init__(self) -> None:
        #: The directory revision this snapshot holds every change up to.
        self.revision = 0
        self.tenants: dict[str, Tenant] = {}
        self.teams: dict[str, Team] = {}
        self.users: dict[str, User] = {}
        self.keys: dict[str, Key] = {}
        self._callers: dict[bytes, Caller] = {}
        self._refused: dict[bytes, str] = {}
        self._digests: dict[str, tuple[bytes, ...]] = {}
        self._members: dict[str, set[str]] = {}  # tenant/team/user id -> ids of its keys
        self._names: dict[tuple[str, str], str] = {}  # (kind, name) -> id
        self._parts: dict[str, tuple[int, _Parts]] = {}  # owner id -> (its revision, its shared parts)
        self._interned: dict[Any, Any] = {}
        self._rules: dict[tuple[str, int | None, int | None], LimitRule] = {}

    # -- the request path -------------------------------------------------------------------------
    def find(self, digest: bytes) -> Caller | None:
        caller = self._callers.get(digest)
        if caller is None:
            reason = self._refused.get(digest)
            if reason is not None:
                raise AuthenticationFailed(f"This API key {reason}.", code="key_revoked")
            return None
        if caller.expires_at is not None and caller.expires_at <= time.time():
            raise AuthenticationFailed("This API key has expired.", code="key_expired")
        return caller

    def by_id(self, key_id: str) -> Caller | None:
        """The caller of the key ``key_id`` as it stands now (its current secret's), for work done
        later on its behalf (a batch's lines); None when unknown, ``AuthenticationFailed`` when
        revoked or expired."""
        digests = self._digests.get(key_id)
        return None if not digests else self.find(digests[0])

    def __len__(self) -> int:
        return len(self.keys)

    # -- lookups for the admin side ---------------------------------------------------------------
    def named(self, kind: str, name: str) -> str | None:
        """The id of the live tenant or team called ``name``, or of the user with that email."""
        return self._names.get((kind, name))

    def _table(self, kind: str) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {"tenant": self.tenants, "team": self.teams, "user": self.users,
                                             "key": self.keys}
        return tables[kind]

    def get(self, kind: str, entity_id: str) -> Entity | None:
        record: Entity | None = self._table(kind).get(entity_id)
        return record

    def of_kind(self, kind: str) -> Iterable[Entity]:
        return self._table(kind).values()

    def key_ids_of(self, entity_id: str) -> set[str]:
        return self._members.get(entity_id, set())

    # -- changes ----------------------------------------------------------------------------------
    def apply(self, records: Iterable[Entity], revision: int) -> Iterator[None]:
        """Take ``records`` and rebuild the callers they affect; yields now and then so a
        caller running a large batch can let other work in between (``for _ in apply(...)``)."""
        affected: set[str] = set()
        for record in records:
            if isinstance(record, Key):
                self._put_key(record)
                affected.add(record.id)
            else:
                self._put_owner(record)
                affected |= self._members.get(record.id, set())
        for count, key_id in enumerate(affected, 1):
            self._index(self.keys[key_id])
            if count % 2000 == 0:
                yield
        self.revision = max(self.revision, revision)

    def _put_owner(self, record: Entity) -> None:
        table = self._table(record.kind)
        old = table.get(record.id)
        unique = "email" if record.kind == "user" else "name"
        if old is not None:
            self._names.pop((record.kind, getattr(old, unique)), None)
        if record.deleted:
            table.pop(record.id, None)
        else:
            table[record.id] = record
            self._names[(record.kind, getattr(record, unique))] = record.id

    def _put_key(self, key: Key) -> None:
        old = self.keys.get(key.id)
        if old is not None:
            for owner in (old.tenant_id, old.team_id, old.user_id):
                if owner is not None:
                    self._members.get(owner, set()).discard(key.id)
        self.keys[key.id] = key
        for owner in (key.tenant_id, key.team_id, key.user_id):
            if owner is not None:
                self._members.setdefault(owner, set()).add(key.id)

    def _index(self, key: Key) -> None:
        for digest in self._digests.pop(key.id, ()):
            self._callers.pop(digest, None)
            self._refused.pop(digest, None)
        current = bytes.fromhex(key.digest)
        previous = bytes.fromhex(key.previous_digest) if key.previous_digest else None
        digests = (current,) if previous is None else (current, previous)
        self._digests[key.id] = digests
        refusal = self._refusal(key)
        if refusal is not None:
            for digest in digests:
                self._refused[digest] = refusal
            return
        caller = self._caller(key)
        self._callers[current] = caller
        if previous is not None and key.previous_until is not None:
            until = key.previous_until if key.expires_at is None else min(key.previous_until, key.expires_at)
            self._callers[previous] = dataclasses.replace(caller, expires_at=until)

    def _refusal(self, key: Key) -> str | None:
        if key.status == "revoked":
            return "was revoked"
        if key.tenant_id not in self.tenants:
            return "belongs to a tenant that was deleted"
        if key.team_id is not None and key.team_id not in self.teams:
            return "belongs to a team that was deleted"
        return None

    def _limits(self, scope: str, subject: str, rpm: int | None, tpm: int | None) -> tuple[Bucket, ...]:
        """The admission buckets of an entity's own rpm/tpm (``buckets_of``, as for ``limits.rules``)."""
        if rpm is None and tpm is None:
            return ()
        rule = self._rules.get((scope, rpm, tpm))
        if rule is None:
            rule = self._rules[(scope, rpm, tpm)] = LimitRule(scope=scope, rpm=rpm, tpm=tpm)  # type: ignore[arg-type]
        return tuple(buckets_of(rule, scope, subject))

    def _intern(self, value: Any) -> Any:
        """One object for equal model sets, tag sets, route sets (many keys share them)."""
        if len(self._interned) >= 100_000:
            self._interned.clear()
        return self._interned.setdefault(value, value)

    def _shared(self, owner: Tenant | Team | User, scope: str) -> _Parts:
        held = self._parts.get(owner.id)
        if held is not None and held[0] == owner.revision:
            return held[1]
        # Team and tenant limits count by name, as `limits.rules` do for static keys.
        limits = () if isinstance(owner, User) else self._limits(scope, owner.name, owner.rpm, owner.tpm)
        name = owner.email if isinstance(owner, User) else owner.name
        budgets = (BudgetLimit(scope, owner.id, name, owner.budget),) if owner.budget else ()  # type: ignore[arg-type]
        self._parts[owner.id] = (owner.revision, (limits, budgets))
        return limits, budgets

    def _caller(self, key: Key) -> Caller:
        tenant = self.tenants[key.tenant_id]
        team = self.teams.get(key.team_id) if key.team_id else None
        user = self.users.get(key.user_id) if key.user_id else None
        models: frozenset[str] | None = frozenset(key.models) if key.models is not None else None
        if team is not None and team.models is not None:
            models = frozenset(team.models) if models is None else models & frozenset(team.models)
        limits = self._limits("key", key.id, key.rpm, key.tpm)
        budgets: tuple[BudgetLimit, ...] = (BudgetLimit("key", key.id, key.name, key.budget),) if key.budget else ()
        for owner, scope in ((user, "user"), (team, "team"), (tenant, "tenant")):
            if owner is not None:
                more_limits, more_budgets = self._shared(owner, scope)
                limits += more_limits
                budgets += more_budgets
        owners = (key, team, tenant)
        guard = next((o.metadata["guard"] for o in owners if o is not None and o.metadata.get("guard")), None)
        regions = pinned_regions(o.metadata for o in owners if o is not None)
        routes = None
        if key.routes is not None:
            routes = self._intern(frozenset(r[3:] if r.startswith("/v1/") else r for r in key.routes))
        return Caller(
            name=key.name,
            tenant=tenant.name,
            team=team.name if team is not None else None,
            tier=key.tier or (team.tier if team is not None else None) or tenant.tier,
            models=self._intern(models),
            metadata=key.metadata,
            key_id=key.id,
            user_id=key.user_id,
            team_id=key.team_id,
            tenant_id=key.tenant_id,
            tags=self._intern(frozenset(key.tags)),
            routes=routes,
            limits=limits,
            budgets=budgets,
            expires_at=key.expires_at,
            guard=guard,
            regions=self._intern(regions) if regions is not None else None,
        )

    def replace_with(self, other: KeySnapshot) -> None:
        """Take ``other``'s contents (a full reload built aside, swapped in at once)."""
        for name in ("revision", "tenants", "teams", "users", "keys", "_callers", "_refused", "_digests", "_members",
                     "_names", "_parts", "_interned", "_rules"):
            setattr(self, name, getattr(other, name))
