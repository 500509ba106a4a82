"""``open_store(url)``: the URL's scheme names a backend in the ``switchyard.stores`` registry.

Backends register through the ``switchyard.stores`` entry-point group, keyed by
URL scheme (``memory = "switchyard.storage.memory:MemoryStore"``); a
third-party package adds a store the same way. The built-in ones are also
named here by import path, so a checkout whose entry points are stale still
opens them. Nothing here imports a concrete backend until its scheme is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import SecretStr

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


class StoreRegistry:
    """URL scheme -> store factory (a class taking a ``StoreSpec``), loaded on first use."""

    def __init__(self, extra: Mapping[str, str | StoreFactory] | None = None, *,
                 use_entry_points: bool = True) -> None:
        self._targets: dict[str, str | StoreFactory] = {}
        if use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._targets.setdefault(ep.name.lower(), ep.value)
        for scheme, target in BUILTIN_STORES.items():
            self._targets.setdefault(scheme, target)
        if extra:
            self._targets.update({k.lower(): v for k, v in extra.items()})

    def schemes(self) -> list[str]:
        return sorted(self._targets)

    def problem(self, url: str, field: str) -> str | None:
        """Why ``url`` names no registered store (the reason, without the URL), or None."""
        try:
            spec = parse(url, prefix="", options={}, field_name=field)
        except StoreURLError as exc:
            return exc.reason
        if spec.scheme not in self._targets:
            return f"unknown scheme {spec.scheme!r}; known: {', '.join(self.schemes())}"
        return None

    def factory(self, spec: StoreSpec) -> StoreFactory:
        target = self._targets.get(spec.scheme)
        if target is None:
            raise spec.error(f"unknown scheme {spec.scheme!r}; known: {', '.join(self.schemes())} "
                             f"(more register through the {ENTRY_POINT_GROUP!r} entry points)")
        if isinstance(target, str):
            module, _, name = target.partition(":")
            loaded: StoreFactory = getattr(importlib.import_module(module), name)
            return loaded
        return target


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
