"""``open_store(url)``: the URL's scheme names a backend in the ``switchyard.stores`` registry.

Backends register through the ``switchyard.stores`` entry-point group, keyed by
URL scheme (``memory = "switchyard.storage.memory:MemoryStore"``); a
third-party package adds a store the same way. The built-in ones are also
named here by import path, so a checkout whose entry points are stale still
opens them. Nothing here imports a concrete backend until its scheme is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr

from switchyard.core.registry import Plugins
from switchyard.storage.protocols import Store
from switchyard.storage.url import StoreSpec, StoreURLError, parse

ENTRY_POINT_GROUP = "switchyard.stores"

_SQL = "switchyard.storage.sql:SqlStore"
_REDIS = "switchyard.storage.redis_store:RedisStore"
BUILTIN_STORES: dict[str, str] = {
    "memory": "switchyard.storage.memory:MemoryStore",
    "sqlite": _SQL,
    "postgresql": _SQL,
    "postgres": _SQL,
    "redis": _REDIS,
    "rediss": _REDIS,
    "unix": _REDIS,
}

StoreFactory = Callable[[StoreSpec], Store]


class StoreRegistry(Plugins):
    """URL scheme -> store factory (a class taking a ``StoreSpec``), loaded on first use."""

    kind = "store"
    param = "storage.url"

    def __init__(self, extra: Mapping[str, str | StoreFactory] | None = None, *,
                 use_entry_points: bool = True) -> None:
        super().__init__(ENTRY_POINT_GROUP, BUILTIN_STORES, {k.lower(): v for k, v in (extra or {}).items()},
                         use_entry_points=use_entry_points)

    def schemes(self) -> list[str]:
        return self.names()

    def problem(self, url: str, field: str) -> str | None:
        """Why ``url`` names no registered store (the reason, without the URL), or None."""
        try:
            spec = parse(url, prefix="", options={}, field_name=field)
        except StoreURLError as exc:
            return exc.reason
        if spec.scheme not in self.names():
            return f"unknown scheme {spec.scheme!r}; known: {', '.join(self.schemes())}"
        return None

    def factory(self, spec: StoreSpec) -> StoreFactory:
        if spec.scheme not in self.names():
            raise spec.error(f"unknown scheme {spec.scheme!r}; known: {', '.join(self.schemes())} "
                             f"(more register through the {ENTRY_POINT_GROUP!r} entry points)")
        loaded: StoreFactory = self.get(spec.scheme)
        return loaded


def open_store(url: str | SecretStr, *, prefix: str = "switchyard:", field: str = "storage.url",
               registry: StoreRegistry | None = None, **options: Any) -> Store:
    """The store for ``url``: ``memory://``, ``sqlite:///path``, ``redis://…``, ``postgresql://…``.

    No I/O happens here: connections open on first use. ``prefix`` is put in
    front of every key, channel, stream and queue name; ``options`` are
    backend settings (also accepted as URL query parameters). A bad URL raises
    ``StoreURLError`` naming ``field`` and the reason, never the password.
    """
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    spec = parse(raw, prefix=prefix, options=dict(options), field_name=field)
    store = (registry or StoreRegistry()).factory(spec)(spec)
    return store
