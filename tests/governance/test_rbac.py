"""The role policy, decision by decision: every role against records in and out of its reach."""

from __future__ import annotations

import pytest

from switchyard.core.errors import PermissionDenied
from switchyard.governance.entities import Key, Team, Tenant, User
from switchyard.governance.rbac import Principal, allowed, require

ACME = Tenant(id="ten_a", name="acme")
OTHER_TENANT = Tenant(id="ten_b", name="globex")
ML = Team(id="team_ml", tenant_id="ten_a", name="ml")
WEB = Team(id="team_web", tenant_id="ten_a", name="web")
ML_KEY = Key(id="key_ml", name="ml", prefix="sk-sy-aaaaaa", digest="0" * 64, tenant_id="ten_a", team_id="team_ml",
             user_id="usr_ada")
WEB_KEY = Key(id="key_web", name="web", prefix="sk-sy-bbbbbb", digest="1" * 64, tenant_id="ten_a", team_id="team_web")
ADA = User(id="usr_ada", tenant_id="ten_a", team_id="team_ml", email="ada@acme.test")
BOSS = User(id="usr_boss", tenant_id="ten_a", email="boss@acme.test", role="owner")
ML_ADMIN = User(id="usr_mla", tenant_id="ten_a", team_id="team_ml", email="mla@acme.test", role="admin")

OWNER = Principal("owner", "master")
ADMIN = Principal("admin", "oidc:admin")
VIEWER = Principal("viewer", "oidc:viewer")
TEAM_ADMIN = Principal("team_admin", "oidc:ta", team_id="team_ml", tenant_id="ten_a")
MEMBER = Principal("member", "oidc:ada", user_id="usr_ada")
HOLDER = Principal("key_holder", "key:key_ml", key_id="key_ml")


@pytest.mark.parametrize("principal, action, record, expected", [
    (OWNER, "create", ACME, True),
    (OWNER, "gateway", None, True),
    (ADMIN, "create", ACME, False),  # tenants are the owner's
    (ADMIN, "read", ACME, True),
    (ADMIN, "create", ML, True),
    (ADMIN, "revoke", WEB_KEY, True),
    (ADMIN, "create", BOSS, False),  # no minting owners
    (ADMIN, "gateway", None, True),
    (VIEWER, "read", WEB_KEY, True),
    (VIEWER, "read", OTHER_TENANT, True),
    (VIEWER, "revoke", WEB_KEY, False),
    (VIEWER, "gateway", None, True),
    (TEAM_ADMIN, "create", ML_KEY, True),
    (TEAM_ADMIN, "rotate", ML_KEY, True),
    (TEAM_ADMIN, "read", WEB_KEY, False),
    (TEAM_ADMIN, "revoke", WEB_KEY, False),
    (TEAM_ADMIN, "update", WEB_KEY, False),
    (TEAM_ADMIN, "read", ML, True),
    (TEAM_ADMIN, "update", ML, False),
    (TEAM_ADMIN, "read", WEB, False),
    (TEAM_ADMIN, "read", ACME, True),  # their team's tenant
    (TEAM_ADMIN, "read", OTHER_TENANT, False),
    (TEAM_ADMIN, "create", ADA, True),
    (TEAM_ADMIN, "create", ML_ADMIN, False),  # no raising anyone above team admin
    (TEAM_ADMIN, "gateway", None, False),
    (MEMBER, "read", ADA, True),
    (MEMBER, "read", ML_KEY, True),  # issued to them
    (MEMBER, "read", WEB_KEY, False),
    (MEMBER, "rotate", ML_KEY, False),
    (HOLDER, "read", ML_KEY, True),
    (HOLDER, "read", WEB_KEY, False),
    (HOLDER, "revoke", ML_KEY, False),
    (HOLDER, "gateway", None, False),
])
def test_policy(principal, action, record, expected):
    assert allowed(principal, action, record) is expected


def test_refusals_say_why():
    with pytest.raises(PermissionDenied) as info:
        require(TEAM_ADMIN, "revoke", WEB_KEY)
    assert info.value.status == 403 and info.value.code == "forbidden"
    assert "own team" in info.value.message
    with pytest.raises(PermissionDenied) as info:
        require(VIEWER, "update", ML)
    assert "read-only" in info.value.message
    with pytest.raises(PermissionDenied) as info:
        require(ADMIN, "delete", ACME)
    assert "only an owner manages tenants" in info.value.message
