"""Audit entries and the hash chain that makes altering them detectable.

Each entry is stored as its canonical JSON (``Entry.canonical``: sorted keys,
no whitespace) together with two hashes::

    hash(n) = sha256( hash(n-1) as hex  +  canonical(n) )

with ids that follow each other without gaps. The chain's head (last id and
hash) is kept apart, so each change an intruder could make shows up when the
chain is walked (``verify``):

* an edited entry       — its hash no longer matches its content;
* an edited hash        — the next entry's ``prev_hash`` no longer matches;
* a deleted entry       — a gap in the ids;
* deleted last entries  — the walk ends before the head;
* an edited filter column (actor, action…) — it disagrees with the canonical JSON.

Pruning old entries (retention) moves the chain's anchor: the id and hash the
first kept entry follows, recorded in the head; the walk starts there.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

#: The ``prev_hash`` of the very first entry.
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One audited event. ``kind`` is ``admin`` (a change through the admin API or
    CLI), ``request`` (a model request's metadata) or ``guard`` (what the guard found in
    a request); ``detail`` holds the rest: before/after for a change,
    alias/deployment/status/tokens for a request, categories and counts for the guard."""

    at: float
    kind: str
    actor: str
    action: str
    target: str | None = None
    source: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def canonical(self) -> bytes:
        return orjson.dumps({"at": self.at, "kind": self.kind, "actor": self.actor, "action": self.action,
                             "target": self.target, "source": self.source, "detail": self.detail},
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)

    @classmethod
    def from_canonical(cls, data: bytes) -> Entry:
        raw = orjson.loads(data)
        return cls(raw["at"], raw["kind"], raw["actor"], raw["action"], raw["target"], raw["source"],
                   raw["detail"])


def link(prev_hash: str, data: bytes) -> str:
    """The hash of an entry whose canonical JSON is ``data``, following ``prev_hash``."""
    return hashlib.sha256(prev_hash.encode("ascii") + data).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """An entry as the store holds it: the filter columns beside the canonical JSON."""

    id: int
    at: float
    kind: str
    actor: str
    action: str
    target: str | None
    data: bytes
    prev_hash: str
    hash: str

    def entry(self) -> Entry:
        return Entry.from_canonical(self.data)


@dataclass(frozen=True, slots=True)
class Head:
    """Where the chain ends (``last_id``, ``last_hash``) and where it starts after
    pruning: the first kept entry has id ``anchor_id + 1`` and follows ``anchor_hash``."""

    last_id: int = 0
    last_hash: str = GENESIS
    anchor_id: int = 0
    anchor_hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of walking the chain: ``ok``, how many entries were checked, and
    for a broken chain the first id found wrong and why."""

    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str | None = None


async def verify(head: Head, rows: AsyncIterator[Stored]) -> Verdict:
    """Walk ``rows`` (every stored entry, in id order) against ``head``."""
    expected_id, prev = head.anchor_id + 1, head.anchor_hash
    checked = 0
    async for row in rows:
        if row.id != expected_id:
            missing = expected_id if row.id > expected_id else row.id
            return Verdict(False, checked, missing, f"entry {missing} is missing (found {row.id} next)")
        if row.prev_hash != prev:
            return Verdict(False, checked, row.id, "its prev_hash does not match the entry before it")
        if link(prev, row.data) != row.hash:
            return Verdict(False, checked, row.id, "its content does not match its hash (altered)")
        try:
            entry = row.entry()
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return Verdict(False, checked, row.id, "its content is not an audit entry")
        if (entry.at, entry.kind, entry.actor, entry.action, entry.target) != (
                row.at, row.kind, row.actor, row.action, row.target):
            return Verdict(False, checked, row.id, "a column disagrees with its hashed content (altered)")
        prev, expected_id = row.hash, expected_id + 1
        checked += 1
    if expected_id - 1 != head.last_id or prev != head.last_hash:
        return Verdict(False, checked, expected_id, f"the chain ends at {expected_id - 1} but its head says "
                                                    f"{head.last_id} (entries removed from the end)")
    return Verdict(True, checked)
