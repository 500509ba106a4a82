"""One contract for every directory: memory, a SQLite file (migrated on start), the real PostgreSQL.

Saves stamp revisions; ``changes(after)`` returns exactly what was stamped
after; a stale write is a 409; a live name is unique, a deleted one free again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchyard.core.errors import Conflict
from switchyard.governance.directory import Directory, open_directory
from switchyard.governance.entities import Budget, Key, Team, Tenant
from switchyard.governance.keygen import new_id, new_secret
from switchyard.governance.sql_directory import DirectoryNotReady
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Directory]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'directory.db'}"  # never migrated by hand: start() does it
    else:
        url = request.getfixturevalue("postgres_url")
        await upgrade(url)
    store = open_store(url)
    found = open_directory(store)
    await found.start()
    try:
        yield found
    finally:
        await found.aclose()
        await store.aclose()


def _key(tenant: Tenant, **extra: object) -> Key:
    secret = new_secret()
    return Key(id=new_id("key"), name="ci", prefix=secret.prefix, digest=secret.digest, tenant_id=tenant.id,
               **extra)  # type: ignore[arg-type]


async def test_saves_stamp_revisions_and_changes_return_them(directory: Directory) -> None:
    assert await directory.revision() == 0
    acme = await directory.save(Tenant(id=new_id("tenant"), name="acme", budget=Budget(amount=100)), None)
    team = await directory.save(Team(id=new_id("team"), tenant_id=acme.id, name="ml", models=("gpt-4o",),
                                     rpm=60, metadata={"cost-centre": "42"}), None)
    key = await directory.save(_key(acme, team_id=team.id, models=("gpt-4o",), tags=("batch",), rpm=5,
                                    budget=Budget(amount=10, period="rolling", window="7d", soft=(0.8, 0.5))), None)
    assert (acme.revision, team.revision, key.revision) == (1, 2, 3)
    assert key.created_at > 0 and key.updated_at == key.created_at
    everything = await directory.changes(0)
    assert everything.revision == 3
    assert [(r.kind, r.id) for r in everything.records] == [("tenant", acme.id), ("team", team.id), ("key", key.id)]
    again = await directory.get("key", key.id)
    assert again == key  # every field round-trips, the budget included
    assert isinstance(again, Key) and again.budget is not None and again.budget.window == 7 * 86400
    assert again.budget.soft == (0.5, 0.8)

    renamed = await directory.save(dataclasses.replace(team, name="research"), team.revision)
    assert renamed.revision == 4 and renamed.created_at == team.created_at
    after = await directory.changes(3)
    assert after.revision == 4 and [r.id for r in after.records] == [team.id]
    assert (await directory.changes(4)).records == []


async def test_a_stale_write_is_a_conflict(directory: Directory) -> None:
    acme = await directory.save(Tenant(id=new_id("tenant"), name="acme"), None)
    await directory.save(dataclasses.replace(acme, tier="gold"), acme.revision)
    with pytest.raises(Conflict) as info:
        await directory.save(dataclasses.replace(acme, tier="free"), acme.revision)  # read before the gold write
    assert info.value.status == 409 and info.value.code == "changed_concurrently"
    current = await directory.get("tenant", acme.id)
    assert isinstance(current, Tenant) and current.tier == "gold"


async def test_live_names_are_unique_and_a_deleted_name_is_free(directory: Directory) -> None:
    acme = await directory.save(Tenant(id=new_id("tenant"), name="acme"), None)
    with pytest.raises(Conflict) as info:
        await directory.save(Tenant(id=new_id("tenant"), name="acme"), None)
    assert info.value.code == "name_taken" and info.value.param == "name"
    revision = await directory.revision()
    assert revision == 1  # the refused write took no revision
    await directory.save(dataclasses.replace(acme, deleted=True), acme.revision)
    reborn = await directory.save(Tenant(id=new_id("tenant"), name="acme"), None)
    assert reborn.name == "acme"
    tombstone = await directory.get("tenant", acme.id)
    assert tombstone is not None and tombstone.deleted


async def test_postgresql_not_migrated_is_refused_naming_the_command(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with pytest.raises(DirectoryNotReady) as info:
            await open_directory(store).start()
    finally:
        await store.aclose()
    assert "switchyard db upgrade" in str(info.value) and "storage.url" in str(info.value)


def test_stores_without_tables_are_refused() -> None:
    with pytest.raises(ValueError) as info:
        open_directory(open_store("redis://127.0.0.1:6379/0"))
    assert "sqlite:///, postgresql:// or memory://" in str(info.value)
