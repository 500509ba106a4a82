"""The semantic cache: an earlier answer to a prompt that means the same.

``SemanticCache.lookup(partition, alias, request)`` embeds the request's last
user turn and finds the nearest earlier prompt *of the same partition, alias
and context* (``prompt.py``: system prompt, tools, earlier turns, parameters and
numbers equal); at or above the threshold it is a ``SemanticHit`` with the
stored answer and the similarity, else a ``SemanticMiss`` saying why.
``store(partition, alias, request, answer, ttl)`` keeps an answer (opaque bytes)
for later lookups; the vector of the lookup just before is reused, not
recomputed. ``purge`` and ``inspect`` work by partition and alias.

The partition is set by the gateway from the caller's identity, never from the
request, and it is part of every lookup's key: two tenants never see each
other's entries, however alike their prompts (the index keeps one bucket per
context and a lookup searches one bucket).

With shared entries (Redis) ``start`` follows the other replicas' additions and
purges in the background, and the index is rebuilt from the feed at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from switchyard.cache.semantic.embedder import Embedder, EmbedderBusy, EmbedderUnavailable, Vector
from switchyard.cache.semantic.entries import PREVIEW, Added, CaughtUp, Entries, Entry, MemoryEntries, Purged
from switchyard.cache.semantic.index import SemanticIndex
from switchyard.cache.semantic.prompt import Prompt, Skip, prompt_of

log = logging.getLogger("switchyard.cache.semantic")

#: Vectors of recent lookups kept for the ``store`` that follows a miss.
RECENT_VECTORS = 1024
#: Seconds between two warnings about a store or embedder that fails.
WARN_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    """How the semantic cache matches and what it keeps (per-alias thresholds come with each lookup)."""

    #: Cosine similarity at or above which an earlier prompt's answer is used.
    threshold: float = 0.9
    #: Seconds an answer is kept (``store`` may say otherwise).
    ttl: float = 3600.0
    #: Entries kept at most (this process's index; in Redis, the shared set).
    max_entries: int = 10_000
    #: Conversations with more user turns than this bypass the cache.
    max_turns: int = 3
    #: A last user turn longer than this (characters) bypasses the cache.
    max_chars: int = 2000
    #: The numbers in the last turn must be equal for a hit.
    exact_numbers: bool = True
    #: Answers larger than this (bytes) are not stored.
    max_answer_bytes: int = 1 << 20


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """An earlier answer to a prompt that means the same."""

    answer: bytes
    similarity: float
    entry_id: str
    hit = True


@dataclass(frozen=True, slots=True)
class SemanticMiss:
    """No answer: ``reason`` is ``miss`` (nothing near enough; ``similarity`` is the nearest
    one's, if any), a reason the request is not matched (``multi_turn``, ``non_text``,
    ``too_long``, ``not_user_turn``, ``empty``), or one the cache could not look
    (``embedder_busy``, ``embedder_unavailable``, ``store_unavailable``)."""

    reason: str
    similarity: float | None = None
    hit = False

    @property
    def bypassed(self) -> bool:
        """True when the cache did not look (as opposed to looking and finding nothing)."""
        return self.reason != "miss"


class SemanticCache:
    """See the module docstring. ``clock`` gives Unix seconds (tests move it)."""

    def __init__(self, embedder: Embedder, entries: Entries | None = None, *,
                 settings: SemanticSettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.embedder = embedder
        self.entries: Entries = entries if entries is not None else MemoryEntries()
        self.settings = settings or SemanticSettings()
        self.clock = clock
        self.index = SemanticIndex(self.settings.max_entries, on_drop=self.entries.forget)
        self._recent: OrderedDict[tuple[str, str], Vector] = OrderedDict()
        self._follower: asyncio.Task[None] | None = None
        #: Set once the index has read every event the shared feed held at start.
        self.caught_up = asyncio.Event()
        self._fed = asyncio.Condition()
        self._warned = -WARN_EVERY
        if not self.entries.shared:
            self.caught_up.set()

    # -- life ------------------------------------------------------------------
    async def start(self) -> None:
        """With shared entries: read the feed (the index is rebuilt from it) and keep following it."""
        if self.entries.shared and self._follower is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow(), name="switchyard-semantic-feed")

    async def aclose(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
            self._follower = None
        await self.embedder.aclose()
        await self.entries.aclose()

    # -- requests --------------------------------------------------------------
    def prompt(self, partition: str, alias: str, request: Any, variant: str = "") -> Prompt | Skip:
        """What ``request`` (a ``ChatRequest`` or its body) is matched on, or why it is not."""
        body: Mapping[str, Any] = request if isinstance(request, Mapping) else request.body
        s = self.settings
        return prompt_of(body, partition=partition, alias=alias, embedder=self.embedder.name,
                         max_turns=s.max_turns, max_chars=s.max_chars, exact_numbers=s.exact_numbers,
                         variant=variant)

    async def lookup(self, partition: str, alias: str, request: Any, *, threshold: float | None = None,
                     variant: str = "") -> SemanticHit | SemanticMiss:
        """The stored answer of the nearest earlier prompt at or above ``threshold`` (default:
        the settings'), in this partition and alias and context only (``variant``: anything
        else that must be equal, see ``prompt.py``)."""
        prompt = self.prompt(partition, alias, request, variant)
        if isinstance(prompt, Skip):
            return SemanticMiss(prompt.reason)
        key = (partition, alias, prompt.context)
        if key not in self.index.buckets:  # nothing kept in this context: no need to embed the prompt
            return SemanticMiss("miss")
        vector = await self._vector(prompt)
        if isinstance(vector, SemanticMiss):
            return vector
        now = self.clock()
        floor = self.settings.threshold if threshold is None else threshold
        for _ in range(3):  # an entry gone from the store is dropped and the next nearest tried
            found = self.index.nearest(key, vector, now)
            if found is None:
                return SemanticMiss("miss")
            entry_id, similarity = found
            if similarity < floor:
                return SemanticMiss("miss", similarity)
            try:
                stored = await self.entries.get(entry_id)
            except Exception as exc:
                self._warn("cannot read an entry (%s)", type(exc).__name__)
                return SemanticMiss("store_unavailable")
            entry = None if stored is None else stored[0]
            if entry is None or (entry.partition, entry.alias, entry.context) != key or entry.expires <= now:
                self.index.remove(entry_id)
                continue
            self.index.touch(entry_id)
            return SemanticHit(stored[1], round(similarity, 4), entry_id)  # type: ignore[index]
        return SemanticMiss("miss")

    async def store(self, partition: str, alias: str, request: Any, answer: bytes, ttl: float | None = None, *,
                    variant: str = "") -> str | None:
        """Keep ``answer`` for the prompt of ``request``; returns the entry's id (None: not kept,
        because the request is not matched semantically, or the answer is too large, or the
        embedder or store failed — a cache never fails a request)."""
        if len(answer) > self.settings.max_answer_bytes:
            return None
        prompt = self.prompt(partition, alias, request, variant)
        if isinstance(prompt, Skip):
            return None
        vector = await self._vector(prompt)
        if isinstance(vector, SemanticMiss):
            return None
        now = self.clock()
        ttl = self.settings.ttl if ttl is None else ttl
        if ttl <= 0:
            return None
        entry = Entry(id=uuid.uuid4().hex, partition=partition, alias=alias, context=prompt.context,
                      preview=prompt.text[:PREVIEW], vector=vector.astype("<f4").tobytes(), created=now,
                      expires=now + ttl)
        try:
            await self.entries.put(entry, answer, ttl)
        except Exception as exc:
            self._warn("cannot store an entry (%s)", type(exc).__name__)
            return None
        self._add(entry, vector)
        return entry.id

    async def purge(self, partition: str, alias: str | None = None) -> int:
        """Drop every entry of ``partition`` (of ``alias`` only, when given), on every replica
        sharing the store; returns how many the store held."""
        gone = self.index.purge(partition, alias)
        self._recent.clear()
        removed = await self.entries.purge(partition, alias)
        return max(removed, len(gone))

    def inspect(self, partition: str | None = None, alias: str | None = None, *, limit: int = 100) -> dict[str, Any]:
        """What this process's index holds (of ``partition``, of ``alias``): totals per partition
        and alias, and the most recently used entries (a preview of each prompt, never the answer)."""
        self.index.expire(self.clock())
        items: list[dict[str, Any]] = []
        for entry_id, slot in self.index.entries(partition, alias):
            if len(items) >= limit:
                break
            items.append({"id": entry_id, "partition": slot.key[0], "alias": slot.key[1], "prompt": slot.preview,
                          "created": round(slot.created, 3), "expires": round(slot.expires, 3), "hits": slot.hits})
        return {"entries": len(self.index), "max_entries": self.index.max_entries, "shared": self.entries.shared,
                "embedder": self.embedder.name, "groups": self.index.summary(partition, alias), "items": items}

    # -- inside ----------------------------------------------------------------
    async def _vector(self, prompt: Prompt) -> Vector | SemanticMiss:
        memo = (prompt.context, prompt.text)
        vector = self._recent.get(memo)
        if vector is not None:
            return vector
        try:
            [vector] = await self.embedder.embed([prompt.text])
        except EmbedderBusy:
            return SemanticMiss("embedder_busy")
        except EmbedderUnavailable as exc:
            self._warn("%s", exc)
            return SemanticMiss("embedder_unavailable")
        if vector is None:
            return SemanticMiss("too_long")
        self._recent[memo] = vector
        while len(self._recent) > RECENT_VECTORS:
            self._recent.popitem(last=False)
        return vector

    def _warn(self, message: str, *args: Any) -> None:
        """A warning at most every ``WARN_EVERY`` seconds: a store or embedder that is down fails every request."""
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("semantic cache: " + message + " (requests go on uncached)", *args)

    def _add(self, entry: Entry, vector: Vector) -> None:
        self.index.add(entry.id, (entry.partition, entry.alias, entry.context), vector, created=entry.created,
                       expires=entry.expires, preview=entry.preview, now=self.clock())

    async def _follow(self) -> None:
        """Apply the shared feed's events to the index, from the oldest kept (the feed
        reconnects by itself; this only restarts after a fault of its own)."""
        while True:
            try:
                await self._apply_feed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("semantic cache: the entry feed failed; following it again")
                await asyncio.sleep(1.0)

    async def _apply_feed(self) -> None:
        async for event in self.entries.follow():
            if isinstance(event, Added):
                entry = event.entry
                if entry.id not in self.index and entry.expires > self.clock():
                    self._add(entry, np.frombuffer(entry.vector, dtype="<f4").astype(np.float32))
            elif isinstance(event, Purged):
                self.index.purge(event.partition, event.alias)
                self._recent.clear()
            elif isinstance(event, CaughtUp):
                self.caught_up.set()
            async with self._fed:
                self._fed.notify_all()

    async def fed(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds, checking after each event of the shared feed
        (e.g. another replica's entry has arrived)."""
        async with self._fed:
            await self._fed.wait_for(condition)
