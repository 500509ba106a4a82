"""``open_store``: schemes through the registry, plugins, bad URLs that never echo a password."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points

import pytest
from pydantic import SecretStr

from switchyard.core.config import ConfigError, parse_config
from switchyard.storage import ENTRY_POINT_GROUP, Store, StoreRegistry, StoreURLError, open_store
from switchyard.storage.fanout import Mailbox
from switchyard.storage.memory import MemoryStore
from switchyard.storage.url import StoreSpec, mask


def test_builtin_backends_are_entry_points() -> None:
    names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"memory", "sqlite", "redis", "postgresql"} <= names


def test_open_store_builds_without_io() -> None:
    # Nothing answers on these ports: construction must not notice.
    for url in ("memory://", "sqlite:///nowhere/x.db", "redis://127.0.0.1:1/0", "postgresql://u:pw@127.0.0.1:1/db"):
        store = open_store(url)
        assert isinstance(store, Store)
        assert "pw" not in store.url and "pw" not in repr(store)


def test_unknown_scheme_names_the_field_not_the_password() -> None:
    with pytest.raises(StoreURLError) as raised:
        open_store(SecretStr("mongodb://admin:hunter2@db/x"), field="storage.url")
    message = str(raised.value)
    assert message.startswith("storage.url: unknown scheme 'mongodb'") and "hunter2" not in message
    with pytest.raises(StoreURLError, match="^storage.url: must be a URL"):
        open_store("hunter2")
    with pytest.raises(StoreURLError, match="sqlite needs a file"):
        open_store("sqlite://")
    with pytest.raises(StoreURLError, match="'max_keys' must be an integer"):
        open_store("memory://?max_keys=lots")


def test_mask_hides_only_the_password() -> None:
    assert mask("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert mask("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


class PluginStore(MemoryStore):
    """What a third-party package would register under ``switchyard.stores``."""

    def __init__(self, spec: StoreSpec) -> None:
        super().__init__(spec)
        self.where = spec.parts.netloc


async def test_a_plugin_store_is_opened_by_its_scheme() -> None:
    registry = StoreRegistry({"vault": PluginStore})
    store = open_store("vault://shelf-3", registry=registry)
    assert isinstance(store, PluginStore) and store.where == "shelf-3"
    await store.kv.set("k", b"v")
    assert await store.kv.get("k") == b"v"


def test_storage_config_section_is_strict_and_secret() -> None:
    config = parse_config({"storage": {"url": "postgresql://app:s3cret@db/x"}})
    assert "s3cret" not in repr(config.storage) and "s3cret" not in str(config.model_dump())
    assert parse_config({}).storage.url.get_secret_value() == "memory://"
    with pytest.raises(ConfigError) as raised:
        parse_config({"storage": {"url": "s3cret-no-scheme", "pool": 3}})
    text = str(raised.value)
    assert "storage.url" in text and "storage.pool" in text and "s3cret" not in text


async def test_a_full_mailbox_drops_the_oldest() -> None:
    box = Mailbox(2)
    for n in range(5):
        box.put(str(n).encode())
    assert box.dropped == 3
    assert [await box.take(), await box.take()] == [b"3", b"4"]
    box.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(box.take(), 1)


def test_check_config_reports_an_unknown_store_scheme(tmp_path) -> None:
    from switchyard.gateway.validate import problems_in

    config = parse_config({"storage": {"url": "cassandra://ops:hunter2@ring/x"}})
    problems = problems_in(config)
    assert [path for path, _ in problems] == ["storage.url"]
    assert "unknown scheme 'cassandra'" in problems[0][1] and "hunter2" not in problems[0][1]
    assert problems_in(parse_config({"storage": {"url": "sqlite:///x.db"}})) == []


async def test_counters_say_when_redis_is_unreachable() -> None:
    from switchyard.storage import StoreUnavailable

    store = open_store("redis://127.0.0.1:1/0", connect_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailable):
            await store.counters.reserve("k", 1, 10, 60)
    finally:
        await store.aclose()


def test_serve_refuses_an_unknown_store_scheme(tmp_path, capsys) -> None:
    from switchyard.cli.main import main

    path = tmp_path / "gateway.yaml"
    path.write_text("storage:\n  url: cassandra://ops:hunter2@ring/x\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "storage.url" in err and "unknown scheme 'cassandra'" in err and "hunter2" not in err
