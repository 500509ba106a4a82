"""Session stickiness: the same session id goes to the same deployment.

A new session is placed where the group's strategy would send its first
request when that strategy looks at live state (least_busy, latency, cost,
headroom: ``preferred``); for the static strategies (round_robin, weighted) its
natural home is chosen on a consistent-hash ring of the deployments that can
serve the request, each holding a share of the ring in proportion to its
``weight`` under ``weighted`` (so a 90/10 canary stays 90/10 with stickiness
on), and adding or removing one deployment moves only the sessions that hash to it. The first home a
session gets is written to the sticky table (set-if-absent) and followed from
then on, by every replica when the table is in Redis; when that home is
unavailable the session moves to the best available deployment and the table
keeps the new home, so the session stays there even after the old one
recovers. Entries expire after ``ttl`` seconds. The table is a store's
key-value (``SessionTable``): the shared store's (Redis) or one in this process.

The deployment lists may be given as ``Members`` (a list with its ids and an
id map, built once): the router keeps one per group and per availability
state, so a lookup costs a table read and a dict lookup, not O(deployments).
"""

from __future__ import annotations

import hashlib
import logging
from bisect import bisect
from typing import Any

from switchyard.core.config.routing import StickyConfig
from switchyard.storage import KeyValue, open_store

log = logging.getLogger("switchyard.routing")


def stable_hash(text: str) -> int:
    """64 bits, the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


class Members:
    """A fixed list of deployments with its ids and an id -> deployment map, built once."""

    __slots__ = ("deployments", "ids", "weights", "by_id", "ring")

    def __init__(self, deployments: list[Any], weighted: bool = False) -> None:
        self.deployments = deployments
        self.ids = tuple(d.id for d in deployments)
        #: Each deployment's share of the ring (``weight`` under the weighted strategy, else equal).
        self.weights = tuple(float(d.weight) for d in deployments) if weighted else ()
        self.by_id = dict(zip(self.ids, deployments))
        #: The hash ring of these ids, once looked up.
        self.ring: tuple[list[int], list[str]] | None = None


def members(deployments: list[Any] | Members) -> Members:
    return deployments if isinstance(deployments, Members) else Members(deployments)


class HashRing:
    """A consistent-hash ring: each deployment at ``VNODES`` points (or, weighted,
    its share of ``WEIGHTED_POINTS``); a session belongs to the first deployment
    clockwise from its hash that is allowed. Lookups are a bisect plus a short
    walk; rings are cached per deployment set."""

    VNODES = 64
    #: Points of a weighted ring: enough that a 10% share holds 10% +- 1 point.
    WEIGHTED_POINTS = 4096
    MAX_RINGS = 1024

    def __init__(self) -> None:
        self._rings: dict[tuple[Any, ...], tuple[list[int], list[str]]] = {}

    def _points(self, ids: tuple[str, ...], weights: tuple[float, ...]) -> dict[str, int]:
        if not weights:
            return dict.fromkeys(ids, self.VNODES)
        total = sum(weights) or 1.0
        points = max(self.WEIGHTED_POINTS, self.VNODES * len(ids))
        return {i: max(1, round(points * w / total)) for i, w in zip(ids, weights)}

    def _ring(self, ids: tuple[str, ...], weights: tuple[float, ...] = ()) -> tuple[list[int], list[str]]:
        key = (ids, weights)
        ring = self._rings.get(key)
        if ring is None:
            counts = self._points(ids, weights)
            points = sorted((stable_hash(f"{i}#{v}"), i) for i in ids for v in range(counts[i]))
            ring = ([p for p, _ in points], [i for _, i in points])
            if len(self._rings) >= self.MAX_RINGS:
                self._rings.pop(next(iter(self._rings)))
            self._rings[key] = ring
        return ring

    def home(self, session: str, deployments: list[Any] | Members, allowed: list[Any] | Members | None = None) -> Any:
        """The session's deployment on the ring of ``deployments``, skipping any not in ``allowed``."""
        everyone = members(deployments)
        ring = everyone.ring
        if ring is None:
            ring = everyone.ring = self._ring(everyone.ids, everyone.weights)
        hashes, owners = ring
        permitted = everyone if allowed is None else members(allowed)
        by_id = permitted.by_id
        start = bisect(hashes, stable_hash(session))
        n = len(owners)
        for step in range(n):
            found = by_id.get(owners[(start + step) % n])
            if found is not None:
                return found
        return (permitted.deployments or everyone.deployments)[0]


def session_of(sources: list[str], request: Any, headers: dict[str, str]) -> str | None:
    """The session id from the first source that has one."""
    for source in sources:
        value: Any = None
        if source == "user":
            value = getattr(request, "user", None)
            if value is None:
                body = getattr(request, "body", None)
                value = body.get("user") if isinstance(body, dict) else None
        elif source.startswith("header:"):
            value = headers.get(source[7:].lower())
        else:
            metadata = getattr(request, "metadata", None)
            if metadata is None:
                body = getattr(request, "body", None)
                metadata = body.get("metadata") if isinstance(body, dict) else None
            value = (metadata or {}).get(source[9:])
        if value:
            return str(value)[:256]
    return None


class SessionTable:
    """Session -> deployment id in a store's key-value, under ``sticky:``, expiring after ``ttl``.

    The table is the shared store's kv when replicas share one (Redis), so every
    replica follows the same homes; otherwise an in-process kv bounded by
    ``max_sessions`` (least recently written dropped). On a store error the
    router falls back to the hash alone (logged), never failing the request.
    """

    def __init__(self, kv: KeyValue, ttl: float) -> None:
        self.kv = kv
        self.ttl = ttl

    async def get(self, key: str) -> str | None:
        value = await self.kv.get("sticky:" + key)
        return value.decode() if value is not None else None

    async def set(self, key: str, deployment_id: str, only_new: bool) -> str:
        """Store ``deployment_id`` (only if absent when ``only_new``); returns the stored home."""
        value = deployment_id.encode()
        if not only_new:
            await self.kv.set("sticky:" + key, value, self.ttl)
            return deployment_id
        if await self.kv.set_if_absent("sticky:" + key, value, self.ttl):
            return deployment_id
        existing = await self.get(key)
        return existing or deployment_id


class Sticky:
    """Puts a session's home deployment first among the candidates."""

    def __init__(self, config: StickyConfig, kv: KeyValue | None = None) -> None:
        """``kv``: the shared store's key-value; None keeps the table in this process."""
        self.config = config
        self.sources = list(config.session_from)
        if kv is None:
            kv = open_store("memory://", max_keys=config.max_sessions).kv
        self.table = SessionTable(kv, config.ttl)
        self.hashing = HashRing()

    def session(self, request: Any, headers: dict[str, str]) -> str | None:
        return session_of(self.sources, request, headers)

    async def peek(self, alias: str, session: str, capable: list[Any] | Members,
                   available: list[Any] | Members, preferred: Any = None) -> tuple[Any, str]:
        """Where ``home`` would send the session, without writing the table (the dry-run)."""
        capable, available = members(capable), members(available)
        try:
            current = await self.table.get(f"{alias}:{session}")
        except Exception:
            current = None
        kept = available.by_id.get(current) if current is not None else None
        if kept is not None:
            return kept, "kept"
        if current is None and preferred is not None and available.by_id.get(preferred.id) is preferred:
            return preferred, "placed"
        natural = self.hashing.home(session, capable)
        if current is None and available.by_id.get(natural.id) is natural:
            return natural, "hashed"
        return self.hashing.home(session, capable, available), "moved"

    async def home(self, alias: str, session: str, capable: list[Any] | Members,
                   available: list[Any] | Members, preferred: Any = None) -> tuple[Any, str]:
        """``(deployment, how)``: how is ``kept`` (table), ``hashed`` (new session, by the
        ring), ``placed`` (new session, where the strategy sent it: ``preferred``) or ``moved``."""
        key = f"{alias}:{session}"
        capable, available = members(capable), members(available)
        by_id = available.by_id
        try:
            current = await self.table.get(key)
        except Exception as exc:  # store down: the hash still routes consistently
            log.warning("sticky table unavailable: %s", exc)
            return self.hashing.home(session, capable, available), "hashed"
        if current is not None and current in by_id:
            return by_id[current], "kept"
        natural = preferred if preferred is not None and current is None else self.hashing.home(session, capable)
        if current is None and natural.id in by_id:
            chosen, how, only_new = natural, "placed" if natural is preferred else "hashed", True
        else:
            chosen, how, only_new = self.hashing.home(session, capable, available), "moved", False
        try:
            stored = await self.table.set(key, chosen.id, only_new)
        except Exception as exc:
            log.warning("sticky table unavailable: %s", exc)
            return chosen, how
        if stored != chosen.id and stored in by_id:  # another replica placed it first
            return by_id[stored], "kept"
        return chosen, how
