"""The snapshot: a key's caller carries everything policies read; rotation, revocation and expiry."""

from __future__ import annotations

import dataclasses
import time

import pytest

from switchyard.auth import Authenticator, digest
from switchyard.core.config import AuthConfig
from switchyard.core.errors import AuthenticationFailed, PermissionDenied
from switchyard.governance.entities import Budget, Key, Team, Tenant, User
from switchyard.governance.keygen import new_id, new_secret
from switchyard.governance.snapshot import KeySnapshot

ACME = Tenant(id="ten_acme", name="acme", tier="silver", rpm=1000, budget=Budget(amount=500), revision=1)
ML = Team(id="team_ml", tenant_id="ten_acme", name="ml", models=("gpt-4o", "fake/echo"), tpm=90_000,
          budget=Budget(amount=100, period="daily", timezone="Europe/Berlin"), revision=2)
ADA = User(id="usr_ada", tenant_id="ten_acme", team_id="team_ml", email="ada@acme.test",
           budget=Budget(amount=20), revision=3)


def _key(**extra: object) -> tuple[Key, str]:
    secret = new_secret()
    fields: dict[str, object] = {"id": new_id("key"), "name": "ci", "prefix": secret.prefix, "digest": secret.digest,
                                 "tenant_id": "ten_acme", "revision": 4, **extra}
    return Key(**fields), secret.value  # type: ignore[arg-type]


def _loaded(*records: object) -> KeySnapshot:
    snapshot = KeySnapshot()
    for _ in snapshot.apply([ACME, ML, ADA, *records], 10):  # type: ignore[list-item]
        pass
    return snapshot


def test_a_key_caller_carries_models_tier_limits_budgets_tags_and_routes() -> None:
    key, secret = _key(team_id="team_ml", user_id="usr_ada", models=("gpt-4o", "claude"), rpm=5, tags=("batch",),
                       routes=("/v1/chat/completions",), metadata={"env": "ci"}, budget=Budget(amount=10))
    snapshot = _loaded(key)
    caller = Authenticator(AuthConfig(), snapshot, enabled=True).authenticate(f"Bearer {secret}", None)
    assert (caller.name, caller.key_id, caller.user_id, caller.team_id, caller.tenant_id) == \
           ("ci", key.id, "usr_ada", "team_ml", "ten_acme")
    assert (caller.tenant, caller.team, caller.tier) == ("acme", "ml", "silver")  # the tenant's tier, inherited
    assert caller.models == frozenset({"gpt-4o"})  # the key's list within its team's bound
    assert caller.tags == frozenset({"batch"}) and caller.metadata == {"env": "ci"}
    assert {(b.scope, b.subject, b.kind, b.limit) for b in caller.limits} == {
        ("key", key.id, "rpm", 5), ("team", "ml", "tpm", 90_000), ("tenant", "acme", "rpm", 1000)}
    assert [(b.scope, b.subject, b.budget.amount) for b in caller.budgets] == [
        ("key", key.id, 10), ("user", "usr_ada", 20), ("team", "team_ml", 100), ("tenant", "ten_acme", 500)]
    caller.check_route("/v1/chat/completions")
    caller.check_route("/chat/completions")  # /v1 or not, as the server serves both
    with pytest.raises(PermissionDenied) as info:
        caller.check_route("/v1/embeddings")
    assert info.value.code == "route_not_allowed"


def test_unknown_secret_is_not_found_and_static_keys_come_first() -> None:
    key, secret = _key()
    snapshot = _loaded(key)
    auth = Authenticator(AuthConfig.model_validate({"keys": [{"key": "sk-static", "name": "static"}]}), snapshot,
                         enabled=True)
    assert auth.authenticate("Bearer sk-static", None).name == "static"
    assert auth.authenticate(None, secret).key_id == key.id
    with pytest.raises(AuthenticationFailed) as info:
        auth.authenticate("Bearer sk-sy-not-a-key", None)
    assert info.value.code == "invalid_api_key"


def test_rotation_keeps_the_old_secret_until_its_grace_ends() -> None:
    key, old = _key()
    fresh = new_secret()
    rotated = dataclasses.replace(key, digest=fresh.digest, prefix=fresh.prefix, previous_digest=key.digest,
                                  previous_prefix=key.prefix, previous_until=time.time() + 60, revision=11)
    snapshot = _loaded(key)
    for _ in snapshot.apply([rotated], 11):
        pass
    assert snapshot.find(digest(fresh.value)) is not None
    assert snapshot.find(digest(old)) is not None  # within the grace period
    ended = dataclasses.replace(rotated, previous_until=time.time() - 1, revision=12)
    for _ in snapshot.apply([ended], 12):
        pass
    with pytest.raises(AuthenticationFailed) as info:
        snapshot.find(digest(old))
    assert info.value.code == "key_expired"
    assert snapshot.find(digest(fresh.value)) is not None


def test_revoked_and_expired_keys_are_refused_with_their_reason() -> None:
    key, secret = _key(expires_at=time.time() + 60)
    snapshot = _loaded(key)
    assert snapshot.find(digest(secret)) is not None
    for _ in snapshot.apply([dataclasses.replace(key, expires_at=time.time() - 1, revision=11)], 11):
        pass
    with pytest.raises(AuthenticationFailed) as info:
        snapshot.find(digest(secret))
    assert info.value.code == "key_expired" and info.value.status == 401
    for _ in snapshot.apply([dataclasses.replace(key, status="revoked", revision=12)], 12):
        pass
    with pytest.raises(AuthenticationFailed) as info:
        snapshot.find(digest(secret))
    assert info.value.code == "key_revoked" and "revoked" in info.value.message


def test_a_change_to_a_team_reaches_every_key_of_it_and_deleting_it_refuses_them() -> None:
    keys = [_key(team_id="team_ml") for _ in range(3)]
    other, other_secret = _key()
    snapshot = _loaded(*(k for k, _ in keys), other)
    for _ in snapshot.apply([dataclasses.replace(ML, models=None, tier="gold", revision=11)], 11):
        pass
    for _, secret in keys:
        caller = snapshot.find(digest(secret))
        assert caller is not None and caller.tier == "gold" and caller.models is None
    for _ in snapshot.apply([dataclasses.replace(ML, deleted=True, revision=12)], 12):
        pass
    for _, secret in keys:
        with pytest.raises(AuthenticationFailed):
            snapshot.find(digest(secret))
    assert snapshot.find(digest(other_secret)) is not None  # not in the team: untouched
    assert snapshot.named("team", "ml") is None and snapshot.revision == 12


def test_a_large_batch_yields_between_slices() -> None:
    batch = [_key()[0] for _ in range(4500)]
    snapshot = KeySnapshot()
    slices = sum(1 for _ in snapshot.apply([ACME, *batch], 1))
    assert slices == 2 and len(snapshot) == 4500


def test_a_keys_tier_picks_its_priority_class() -> None:
    from switchyard.admission.limiter import Priorities
    from switchyard.core.config.limits import LimitsConfig

    priorities = Priorities(LimitsConfig.model_validate({"priority": {"tiers": {"gold": "high", "silver": "low"}}}))
    gold, gold_secret = _key(tier="gold")
    inherited, inherited_secret = _key()  # no tier of its own: its tenant's (silver)
    snapshot = _loaded(gold, inherited)
    assert priorities.of(snapshot.find(digest(gold_secret)), {}) == 0  # high
    assert priorities.of(snapshot.find(digest(inherited_secret)), {}) == 2  # low
