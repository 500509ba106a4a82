"""What the admin API does: create, read, change, rotate, revoke — checked, saved, announced.

Every write follows one path::

    read the record from the directory (the source, not the snapshot)
    -> rbac.require on the record as it is, and as it will be
    -> Directory.save(new, expected=old revision)     409 if someone else changed it
    -> DirectorySync.changed(revision)                this replica holds it, the others are told
    -> AdminEvent to every listener                   (the audit log subscribes here)

Reads come from this replica's snapshot after it caught up with the
directory, filtered by what the principal may see. A key's secret exists
only in the answer to its creation or rotation; afterwards only its prefix.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from switchyard.core.config.governance import GovernanceConfig
from switchyard.core.errors import Conflict, InvalidRequest, NotFound
from switchyard.governance import payloads as p
from switchyard.governance.directory import Directory
from switchyard.governance.entities import Entity, Key, Team, Tenant, User
from switchyard.governance.keygen import new_id, new_secret
from switchyard.governance.rbac import Action, Principal, allowed, require
from switchyard.governance.snapshot import KeySnapshot
from switchyard.governance.sync import DirectorySync

log = logging.getLogger("switchyard.governance")

#: Most records one list page returns.
MAX_PAGE = 1000
#: The error code of a record (or a reference to one) that does not exist, per kind.
NOT_FOUND = {"tenant": "tenant_not_found", "team": "team_not_found", "user": "user_not_found",
             "key": "key_not_found"}


@dataclass(frozen=True, slots=True)
class AdminEvent:
    """One change made through the admin API, for the audit log: who, what, before and after, when.

    ``before``/``after`` are the records as the admin API shows them (no secret, no hash).
    """

    at: float
    principal: Principal
    action: str
    kind: str
    id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


Listener = Callable[[AdminEvent], Awaitable[None]]
E = TypeVar("E", Tenant, Team, User, Key)


class Admin:
    """The admin operations over the directory, for the HTTP routes and anything else."""

    def __init__(self, directory: Directory, snapshot: KeySnapshot, sync: DirectorySync,
                 config: GovernanceConfig) -> None:
        self.directory = directory
        self.snapshot = snapshot
        self.sync = sync
        self.config = config
        #: Awaited after every change (the audit log's seam); one that fails is logged.
        self.listeners: list[Listener] = []

    # -- reads ------------------------------------------------------------------------------------
    async def get(self, principal: Principal, kind: str, entity_id: str) -> Entity:
        await self.sync.catch_up()
        record = self.snapshot.get(kind, entity_id)
        if record is None:
            raise NotFound(f"No {kind} {entity_id}.", code=NOT_FOUND[kind])
        require(principal, "read", record)
        return record

    async def list(self, principal: Principal, kind: str, filters: dict[str, str], limit: int = 100,
                   after: str | None = None) -> tuple[list[Entity], bool]:
        """One page of the records ``principal`` may see, oldest first; and whether more follow."""
        await self.sync.catch_up()
        wanted = {name: self._ref(name, value, name) for name, value in filters.items()
                  if name in ("tenant", "team", "user")}
        status = filters.get("status")
        records = sorted(self.snapshot.of_kind(kind), key=lambda r: (r.created_at, r.id))
        if after is not None:
            cursor = self.snapshot.get(kind, after)
            if cursor is None:
                raise InvalidRequest(f"`after`: no {kind} {after}.", param="after")
            records = [r for r in records if (r.created_at, r.id) > (cursor.created_at, cursor.id)]
        page: list[Entity] = []
        for record in records:
            if any(getattr(record, f"{name}_id", None) != value for name, value in wanted.items()):
                continue
            if status is not None and getattr(record, "status", None) != status:
                continue
            if not allowed(principal, "read", record):
                continue
            if len(page) == limit:
                return page, True
            page.append(record)
        return page, False

    # -- tenants ----------------------------------------------------------------------------------
    async def create_tenant(self, principal: Principal, body: p.TenantCreate) -> Tenant:
        tenant = Tenant(id=new_id("tenant"), **body.values())
        return await self._create(principal, tenant)

    async def update_tenant(self, principal: Principal, entity_id: str, body: p.TenantUpdate) -> Tenant:
        return await self._update(principal, Tenant, entity_id, body.changes())

    async def delete_tenant(self, principal: Principal, entity_id: str) -> Tenant:
        await self.sync.catch_up()
        if any(t.tenant_id == entity_id for t in self.snapshot.teams.values()) or \
                any(u.tenant_id == entity_id for u in self.snapshot.users.values()) or \
                self._active_keys(entity_id):
            raise Conflict("The tenant still has teams, users or active keys; remove them first.",
                           code="tenant_not_empty")
        return await self._update(principal, Tenant, entity_id, {"deleted": True}, "delete")

    # -- teams ------------------------------------------------------------------------------------
    async def create_team(self, principal: Principal, body: p.TeamCreate) -> Team:
        await self.sync.catch_up()
        values = body.values(exclude=("tenant",))
        values["models"] = tuple(body.models) if body.models is not None else None
        team = Team(id=new_id("team"), tenant_id=self._ref("tenant", body.tenant, "tenant"), **values)
        return await self._create(principal, team)

    async def update_team(self, principal: Principal, entity_id: str, body: p.TeamUpdate) -> Team:
        changes = body.changes()
        if "models" in changes and changes["models"] is not None:
            changes["models"] = tuple(changes["models"])
        return await self._update(principal, Team, entity_id, changes)

    async def delete_team(self, principal: Principal, entity_id: str) -> Team:
        await self.sync.catch_up()
        if self._active_keys(entity_id) or any(u.team_id == entity_id for u in self.snapshot.users.values()):
            raise Conflict("The team still has users or active keys; move or revoke them first.",
                           code="team_not_empty")
        return await self._update(principal, Team, entity_id, {"deleted": True}, "delete")

    # -- users ------------------------------------------------------------------------------------
    async def create_user(self, principal: Principal, body: p.UserCreate) -> User:
        await self.sync.catch_up()
        tenant_id, team_id = self._tenant_and_team(body.tenant, body.team)
        values = body.values(exclude=("tenant", "team"))
        user = User(id=new_id("user"), tenant_id=tenant_id, team_id=team_id, **values)
        return await self._create(principal, user)

    async def update_user(self, principal: Principal, entity_id: str, body: p.UserUpdate) -> User:
        changes = body.changes()
        if "team" in changes:
            await self.sync.catch_up()
            team = changes.pop("team")
            changes["team_id"] = None if team is None else self._ref("team", team, "team")
        if changes.get("metadata", 0) is None:
            changes["metadata"] = {}
        if "role" in changes and changes["role"] is None:
            changes["role"] = "member"
        user = await self._update(principal, User, entity_id, changes, check=self._same_tenant)
        return user

    async def delete_user(self, principal: Principal, entity_id: str) -> User:
        await self.sync.catch_up()
        if any(self.snapshot.keys[k].status == "active" and self.snapshot.keys[k].user_id == entity_id
               for k in self.snapshot.key_ids_of(entity_id)):
            raise Conflict("The user still has active keys; revoke them first.", code="user_has_keys")
        return await self._update(principal, User, entity_id, {"deleted": True}, "delete")

    # -- keys -------------------------------------------------------------------------------------
    async def create_key(self, principal: Principal, body: p.KeyCreate) -> tuple[Key, str]:
        """The new key and its secret (shown this once)."""
        await self.sync.catch_up()
        user_id = self._ref("user", body.user, "user") if body.user is not None else None
        tenant_ref = body.tenant
        if tenant_ref is None and body.team is None and user_id is not None:
            tenant_ref = self.snapshot.users[user_id].tenant_id
        if tenant_ref is None and body.team is None:
            raise InvalidRequest("A key belongs to a team, a user or a tenant: name one.", param="team")
        tenant_id, team_id = self._tenant_and_team(tenant_ref, body.team)
        secret = new_secret()
        fields = self._key_fields({k: v for k, v in body.changes().items()
                                   if k not in ("tenant", "team", "user", "name")})
        key = Key(id=new_id("key"), name=body.name or secret.prefix, prefix=secret.prefix, digest=secret.digest,
                  tenant_id=tenant_id, team_id=team_id, user_id=user_id, **fields)
        self._same_tenant(key)
        return await self._create(principal, key), secret.value

    async def update_key(self, principal: Principal, entity_id: str, body: p.KeyUpdate) -> Key:
        changes = self._key_fields(body.changes())
        if "user" in changes:
            await self.sync.catch_up()
            user = changes.pop("user")
            changes["user_id"] = None if user is None else self._ref("user", user, "user")
        if changes.get("name", 0) is None:
            raise InvalidRequest("`name`: a key keeps a name.", param="name")
        return await self._update(principal, Key, entity_id, changes, check=self._changeable)

    async def rotate_key(self, principal: Principal, entity_id: str, body: p.KeyRotate) -> tuple[Key, str]:
        """A new secret for the key; the old one stays valid for the grace period."""
        grace = self.config.rotation_grace if body.grace is None else body.grace
        secret = new_secret()
        now = time.time()

        def rotated(old: Key) -> dict[str, Any]:
            self._changeable(old)
            if grace <= 0:
                return {"digest": secret.digest, "prefix": secret.prefix, "previous_digest": None,
                        "previous_prefix": None, "previous_until": None}
            return {"digest": secret.digest, "prefix": secret.prefix, "previous_digest": old.digest,
                    "previous_prefix": old.prefix, "previous_until": now + grace}

        key = await self._update(principal, Key, entity_id, rotated, "rotate")
        return key, secret.value

    async def revoke_key(self, principal: Principal, entity_id: str) -> Key:
        """Refused everywhere within a second; revoking twice is harmless."""
        current = await self.directory.get("key", entity_id)
        if isinstance(current, Key) and current.status == "revoked":
            require(principal, "revoke", current)
            return current
        return await self._update(principal, Key, entity_id, {"status": "revoked", "revoked_at": time.time()},
                                  "revoke")

    # -- the one write path -----------------------------------------------------------------------
    async def _create(self, principal: Principal, record: E) -> E:
        require(principal, "create", record)
        saved = cast(E, await self.directory.save(record, None))
        await self._done(principal, "create", None, saved)
        return saved

    async def _update(self, principal: Principal, cls: type[E], entity_id: str,
                      changes: dict[str, Any] | Callable[[E], dict[str, Any]], action: Action = "update",
                      check: Callable[[E], None] | None = None) -> E:
        kind = cls.kind
        before = await self.directory.get(kind, entity_id)
        if not isinstance(before, cls) or before.deleted:
            raise NotFound(f"No {kind} {entity_id}.", code=NOT_FOUND[kind])
        require(principal, action, before)
        values = changes(before) if callable(changes) else changes
        after = dataclasses.replace(before, **values)
        if check is not None:
            check(after)
        require(principal, action, after)
        saved = cast(E, await self.directory.save(after, before.revision))
        await self._done(principal, action, before, saved)
        return saved

    async def _done(self, principal: Principal, action: str, before: Entity | None, after: Entity) -> None:
        await self.sync.changed(after.revision)
        event = AdminEvent(time.time(), principal, action, after.kind, after.id,
                           before.public() if before is not None else None, after.public())
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("admin event listener failed", extra={"action": action, "kind": after.kind})

    # -- helpers ----------------------------------------------------------------------------------
    def _ref(self, kind: str, value: str, field: str) -> str:
        """The id of the live ``kind`` named ``value`` (its id, name, or a user's email), or a 400."""
        if self.snapshot.get(kind, value) is not None:
            return value
        found = self.snapshot.named(kind, value)
        if found is None:
            raise InvalidRequest(f"`{field}`: no {kind} {value!r}.", param=field, code=NOT_FOUND[kind])
        return found

    def _tenant_and_team(self, tenant: str | None, team: str | None) -> tuple[str, str | None]:
        team_id = self._ref("team", team, "team") if team is not None else None
        implied = self.snapshot.teams[team_id].tenant_id if team_id is not None else None
        if tenant is None:
            if implied is None:
                raise InvalidRequest("`tenant`: name the tenant (or a team, which implies it).", param="tenant")
            return implied, team_id
        tenant_id = self._ref("tenant", tenant, "tenant")
        if implied is not None and implied != tenant_id:
            raise InvalidRequest(f"`team`: {team!r} belongs to another tenant.", param="team")
        return tenant_id, team_id

    def _same_tenant(self, record: Key | User) -> None:
        if record.team_id is not None:
            team = self.snapshot.teams.get(record.team_id)
            if team is None or team.tenant_id != record.tenant_id:
                raise InvalidRequest("`team`: that team belongs to another tenant.", param="team")
        user_id = getattr(record, "user_id", None)
        if user_id is not None:
            user = self.snapshot.users.get(user_id)
            if user is None or user.tenant_id != record.tenant_id:
                raise InvalidRequest("`user`: that user belongs to another tenant.", param="user")

    def _changeable(self, key: Key) -> None:
        if key.status == "revoked":
            raise Conflict(f"The key {key.id} is revoked; issue a new one.", code="key_revoked")
        self._same_tenant(key)

    @staticmethod
    def _key_fields(changes: dict[str, Any]) -> dict[str, Any]:
        """Body fields as record fields: lists as tuples, ``expires_in`` as ``expires_at``."""
        out = dict(changes)
        for name in ("models", "routes", "tags"):
            if name in out and out[name] is not None:
                out[name] = tuple(out[name])
        if out.get("tags", 0) is None:
            out["tags"] = ()
        if out.get("metadata", 0) is None:
            out["metadata"] = {}
        if "expires_in" in out:
            seconds = out.pop("expires_in")
            if seconds is not None:
                if out.get("expires_at") is not None:
                    raise InvalidRequest("`expires_in`: send expires_at or expires_in, not both.", param="expires_in")
                out["expires_at"] = time.time() + seconds
        return out

    def _active_keys(self, owner_id: str) -> bool:
        return any(self.snapshot.keys[k].status == "active" for k in self.snapshot.key_ids_of(owner_id))
