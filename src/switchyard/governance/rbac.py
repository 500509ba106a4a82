"""Who may do what on the admin API: roles, the principal asking, and one decision function.

=============  ==================================================================
owner          everything (the master key signs in as owner)
admin          everything but creating, changing or deleting tenants, and owners
team_admin     their team: its keys (create, change, rotate, revoke), its users
               (members and team admins), reading the team and its tenant
viewer         reads everything (and the gateway's own state: deployments, dry-runs)
member         reads their own user and the keys issued to them
key_holder     a virtual key presented on an admin route: reads that key (and,
               with spend reporting, that key's usage and spend)
=============  ==================================================================

``allowed(principal, action, record)`` is the whole policy; every admin
operation asks it about the record as it is and, for a change, as it would
be — so a team admin can neither touch another team's key nor move one of
theirs away. Lists are filtered with the same function (``read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchyard.core.errors import PermissionDenied
from switchyard.governance.entities import Entity, Key, Team, Tenant, User

Action = Literal["read", "create", "update", "delete", "rotate", "revoke", "gateway"]
#: Roles from most to least powerful; ``key_holder`` is never granted, only presented.
RANK = {"owner": 5, "admin": 4, "team_admin": 3, "viewer": 2, "member": 1, "key_holder": 0}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks on an admin route: their role and what it is scoped to.

    ``subject`` names them for an audit trail (``master``, ``oidc:<sub>``,
    ``key:<id>``, ``anonymous`` on an open gateway); ``source`` is the client address.
    """

    role: str
    subject: str
    team_id: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    source: str | None = None

    def at_least(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]


def allowed(principal: Principal, action: Action, record: Entity | None = None) -> bool:
    """Whether ``principal`` may do ``action`` to ``record`` (None: the gateway's own state)."""
    role = principal.role
    if role == "owner":
        return True
    if record is None:
        return action == "gateway" and principal.at_least("viewer") and role != "team_admin"
    if action == "read" and role in ("admin", "viewer"):
        return True
    if role == "admin":
        if isinstance(record, Tenant):
            return False
        if isinstance(record, User) and record.role == "owner":
            return False
        return True
    if role == "team_admin":
        return _team_admin(principal, action, record)
    if action != "read":
        return False
    if role == "member":
        if isinstance(record, User):
            return record.id == principal.user_id
        return isinstance(record, Key) and record.user_id is not None and record.user_id == principal.user_id
    if role == "key_holder":
        return isinstance(record, Key) and record.id == principal.key_id
    return False


def _team_admin(principal: Principal, action: Action, record: Entity) -> bool:
    team = principal.team_id
    if team is None:
        return False
    if isinstance(record, Key):
        return record.team_id == team
    if isinstance(record, User):
        return record.team_id == team and record.role in ("member", "team_admin")
    if isinstance(record, Team):
        return action == "read" and record.id == team
    return action == "read" and record.id == principal.tenant_id  # their team's tenant


def require(principal: Principal, action: Action, record: Entity | None = None) -> None:
    """403 unless ``allowed``; the message says which role is needed, never more than the asker may see."""
    if allowed(principal, action, record):
        return
    what = "the gateway's state" if record is None else f"this {record.kind}"
    if principal.role == "team_admin" and record is not None:
        reason = "a team admin manages only their own team's keys and users"
    elif principal.role in ("viewer", "member", "key_holder") and action != "read":
        reason = f"the {principal.role} role is read-only"
    elif principal.role == "admin" and isinstance(record, Tenant):
        reason = "only an owner manages tenants"
    else:
        reason = f"the {principal.role} role may not"
    raise PermissionDenied(f"Not allowed to {action} {what}: {reason}.", code="forbidden")
