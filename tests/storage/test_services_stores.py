"""The composition root opens the stores: the shared one from ``redis:``, the durable one from ``storage:``."""

from __future__ import annotations

from pathlib import Path

from switchyard.core.config import parse_config
from switchyard.core.registry import Registry
from switchyard.gateway.services import Services
from switchyard.storage.memory import MemoryStore
from switchyard.storage.redis_store import RedisStore
from switchyard.storage.sql import SqlStore

MODELS = {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}


async def test_embedded_default_keeps_everything_in_process() -> None:
    services = await Services.start(parse_config({"models": MODELS}), Registry())
    try:
        assert isinstance(services.store, MemoryStore) and isinstance(services.durable, MemoryStore)
        assert services.shared_breakers is None
    finally:
        await services.aclose()


async def test_redis_and_storage_sections_open_their_stores(redis_url: str, redis_prefix: str,
                                                            tmp_path: Path) -> None:
    config = parse_config({
        "models": MODELS,
        "redis": {"url": redis_url, "prefix": redis_prefix},
        "storage": {"url": f"sqlite:///{tmp_path / 'durable.db'}"},
        "routing": {"sticky": {"enabled": True}},
    })
    services = await Services.start(config, Registry())
    try:
        store, durable = services.store, services.durable
        assert isinstance(store, RedisStore) and store.prefix == redis_prefix
        assert isinstance(durable, SqlStore) and durable.prefix == redis_prefix  # one prefix scheme
        assert services.router.sticky is not None and services.router.sticky.table.kv is store.kv
        assert services.shared_breakers is not None and services.shared_breakers.store is store
    finally:
        await services.aclose()
    assert not (tmp_path / "durable.db").exists()  # nothing opened it: connections are lazy
