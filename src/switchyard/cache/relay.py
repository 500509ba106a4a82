"""Coalescing across replicas: one upstream call for identical requests at any gateway
process sharing Redis (``cache.backend: redis``), its answer relayed to the others.

On a miss a replica runs one script that looks the entry up and, when there is
none, claims the call (``SET lock NX PX lock_ttl`` with a random token). The
claimant leads: it calls upstream, renews its claim every third of
``lock_ttl``, and writes what it gets to a Redis stream named by its token —
batches of chunks as they come (one ``XADD`` per upstream read, ids ``0-1``,
``0-2``...), or the whole unary answer — then an end marker (or the error),
keeps the entry, and lets the claim go. Another replica that finds the claim
held follows that stream from its first entry (``XREAD BLOCK``), feeding its own
flight (``cache/flight.py``), so its local clients share one relay::

    replica A: client -> flight (owner) -> upstream        replica B: clients -> flight
                                    \\-> XADD relay:<token> ---- XREAD ----/

A follower that hears nothing re-reads the claim: when it is gone without an
end marker (the leader died, or stopped renewing) the follower takes the call
over if it has sent nothing yet, and otherwise ends its stream with
``RelayLost`` — never a hang. Followers count themselves (``fol:<token>``), so
a leader whose own clients all left keeps the call going while others listen.
The relay stream is bounded (``RELAY_ENTRIES`` batches, exact trimming; a
follower that falls behind the trim is ended with ``SubscriberTooSlow``) and
expires a minute after its last write. A stream's leader also names it by its
request id (``rid:<tenant digest>:<id>``) for ``GET /v1/streams/{id}`` on any replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from switchyard.cache.entry import Piece, usage_of
from switchyard.cache.flight import StreamFlight, copied
from switchyard.cache.store_redis import PUT, RedisStore, partition_digest
from switchyard.core.errors import RelayLost, SubscriberTooSlow, SwitchyardError, UpstreamTimeout
from switchyard.core.messages import Chunk

log = logging.getLogger("switchyard.cache")

#: Batches a relay stream keeps (trimmed exactly beyond that).
RELAY_ENTRIES = 4096
#: How long a relay stream outlives its last write (seconds): time for followers to finish reading.
RELAY_TTL = 60.0

# KEYS: entry, lru, lock, rid, tick. ARGV: look '1'/'0', claim '1'/'0', token, claim ms, rid value ('' none).
# Returns {1, entry} (a hit), {2} (claimed: lead), {3, token} (follow that token), {0} (nothing asked).
LOOKUP = """
if ARGV[1] == '1' then
  local value = redis.call('GET', KEYS[1])
  if value then
    redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[5]), KEYS[1])
    return {1, value}
  end
end
if ARGV[2] == '1' then
  if redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then
    if ARGV[5] ~= '' then redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[4]) end
    return {2}
  end
  return {3, redis.call('GET', KEYS[3])}
end
return {0}
"""

# KEYS: lock, rid. ARGV: token, ms. 1 while the claim is the token's.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: lock, rid. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local named = redis.call('GET', KEYS[2])
if named and string.sub(named, 1, string.len(ARGV[1])) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class LeaderLost(Exception):
    """The replica leading a call went away before relaying anything (a follower may take over)."""


class Error(msgspec.Struct, array_like=True, frozen=True):
    status: int
    code: str | None
    type: str
    message: str
    param: str | None = None


_PIECES = msgspec.msgpack.Decoder(list[Piece])
_ERROR = msgspec.msgpack.Decoder(Error)
_ENCODER = msgspec.msgpack.Encoder()
_NAMED = msgspec.msgpack.Decoder(tuple[str, str, str, str])


def error_bytes(error: BaseException) -> bytes:
    error = copied(error)
    if not isinstance(error, SwitchyardError):
        error = SwitchyardError("The shared upstream call failed.")
    return _ENCODER.encode(Error(error.status, error.code, error.type, error.message, error.param))


def error_from(data: bytes) -> SwitchyardError:
    found = _ERROR.decode(data)
    error = SwitchyardError(found.message, param=found.param, code=found.code, status=found.status)
    error.type = found.type
    return error


@dataclass(frozen=True, slots=True)
class Decision:
    """What the lookup found: ``entry`` (a hit), ``token`` to follow, or ``lead`` (claimed)."""

    entry: bytes | None = None
    lead: bool = False
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Named:
    """A stream in flight found by its request id: whose relay to read, and how to show it."""

    token: str
    lock: str
    surface: str
    model: str


class Relay:
    """The Redis side of coalescing (see the module docstring)."""

    def __init__(self, store: RedisStore, lock_ttl: float, block: float) -> None:
        self.store = store
        self.client = store.client
        self.prefix = store.prefix
        self.lock_ttl = lock_ttl
        self.block_ms = max(10, int(block * 1000))
        self._lookup = self.client.register_script(LOOKUP)
        self._renew = self.client.register_script(RENEW)
        #: SHA1 of the scripts pipelines run (EVALSHA: a registered script would make every
        #: pipeline check first that Redis has it, one more round trip).
        self._loaded: dict[str, str] = {}

    async def evalsha(self, pipe: Any, script: str, keys: list[str], args: list[Any]) -> None:
        """Queue ``script`` on ``pipe`` (loaded into Redis once)."""
        sha = self._loaded.get(script)
        if sha is None:
            sha = self._loaded[script] = await self.client.script_load(script)
        pipe.evalsha(sha, len(keys), *keys, *args)

    def reloaded(self) -> None:
        """Redis lost its scripts (a restart): load them again when next used."""
        self._loaded.clear()

    def lock_key(self, name: str) -> str:
        """The claim on the call of the request named ``name`` (``RedisStore.name``)."""
        return f"{self.prefix}lock:{name}"

    def relay_key(self, token: str) -> str:
        return f"{self.prefix}relay:{token}"

    def rid_key(self, tenant: str, request_id: str) -> str:
        digest = hashlib.sha256(request_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return f"{self.prefix}rid:{partition_digest(tenant)}:{digest}"

    async def lookup(self, name: str, *, look: bool, claim: bool,
                     named: tuple[str, str, str, str] | None = None) -> tuple[Decision, str]:
        """One round trip: the entry (when ``look``), else a claim (when ``claim``); with the token
        a claim would hold. ``named``: ``(tenant, request id, surface, model)`` of a stream to name."""
        token = uuid.uuid4().hex
        rid_key, rid_value = self.prefix + "rid:none", b""
        if named is not None:
            tenant, request_id, surface, model = named
            rid_key = self.rid_key(tenant, request_id)
            rid_value = _ENCODER.encode((token, self.lock_key(name), surface, model))
        try:
            found = await self._lookup(
                keys=[self.store.entry_key(name), self.store.lru, self.lock_key(name), rid_key, self.store.tick],
                args=["1" if look else "0", "1" if claim else "0", token, self._claim_ms(), rid_value])
        except Exception as exc:
            raise ConnectionError(f"Redis: {type(exc).__name__}") from None
        kind = int(found[0])
        if kind == 1:
            return Decision(entry=found[1]), token
        if kind == 2:
            return Decision(lead=True), token
        if kind == 3 and found[1]:
            return Decision(token=found[1].decode()), token
        return Decision(), token

    def _claim_ms(self) -> int:
        return max(1, int(self.lock_ttl * 1000))

    async def find(self, tenant: str, request_id: str) -> Named | None:
        try:
            value = await self.client.get(self.rid_key(tenant, request_id))
        except Exception:
            return None
        if value is None:
            return None
        token, lock, surface, model = _NAMED.decode(value)
        return Named(token, lock, surface, model)

    def lead(self, name: str, token: str, named: tuple[str, str] | None = None) -> Lead:
        rid = self.rid_key(*named) if named is not None else self.prefix + "rid:none"
        return Lead(self, self.lock_key(name), rid, token)

    # -- following ----------------------------------------------------------------------------------
    async def follow_unary(self, lock: str, token: str, deadline: float | None) -> bytes:
        """The leader's answer (an encoded entry); raises its error, ``LeaderLost``, or
        ``UpstreamTimeout`` at ``deadline`` (``time.monotonic``)."""
        follower = _Follower(self, lock, token, deadline)
        while True:
            for fields in await follower.next():
                if b"a" in fields:
                    return bytes(fields[b"a"])
                if b"e" in fields:
                    raise error_from(fields[b"e"])

    async def follow_stream(self, lock: str, token: str, flight: StreamFlight,
                            deadline: float | None) -> AsyncIterator[Chunk]:
        """The leader's stream as chunks, once its first batch arrived (before that: its error,
        ``LeaderLost`` or ``UpstreamTimeout``); ``flight.cost`` follows the leader's."""
        follower = _Follower(self, lock, token, deadline)
        await follower.enter()
        try:
            first = await follower.next()
        except BaseException:
            await follower.leave()
            raise
        return _chunks(follower, first, flight)


async def _chunks(follower: _Follower, batch: list[dict[bytes, Any]], flight: StreamFlight) -> AsyncIterator[Chunk]:
    try:
        while True:
            for fields in batch:
                if b"p" in fields:
                    flight.cost = float(fields.get(b"k", 0.0))
                    for piece in _PIECES.decode(fields[b"p"]):
                        yield Chunk(raw=piece.raw, usage=usage_of(piece.usage), more=piece.more, native=piece.native)
                elif b"e" in fields:
                    raise error_from(fields[b"e"])
                elif b"z" in fields:
                    flight.cost = float(fields.get(b"k", 0.0))
                    return
            follower.delivered = True
            batch = await follower.next()
    finally:
        await follower.leave()


class _Follower:
    """Reads one relay stream from its start, in order, bounded by the follower's deadline."""

    def __init__(self, relay: Relay, lock: str, token: str, deadline: float | None) -> None:
        self.relay = relay
        self.lock = lock
        self.token = token
        self.deadline = deadline
        self.key = relay.relay_key(token)
        self.last = 0
        self.delivered = False
        self.counted = False

    async def enter(self) -> None:
        try:
            pipe = self.relay.client.pipeline(transaction=False)
            counter = self.key + ":fol"
            pipe.incr(counter)
            pipe.pexpire(counter, int(RELAY_TTL * 1000))
            await pipe.execute()
            self.counted = True
        except Exception:  # uncounted: the leader may stop when its own clients leave
            pass

    async def leave(self) -> None:
        if self.counted:
            self.counted = False
            try:
                await self.relay.client.decr(self.key + ":fol")
            except Exception:
                pass

    async def next(self) -> list[dict[bytes, Any]]:
        """The next entries (at least one), in order."""
        client = self.relay.client
        while True:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise UpstreamTimeout("The request's deadline passed while it waited for another replica's "
                                      "identical request.")
            try:
                rows = await client.xread({self.key: f"0-{self.last}"}, count=256, block=self.relay.block_ms)
            except Exception as exc:
                raise self._lost(f"Redis: {type(exc).__name__}") from None
            if not rows:
                try:
                    holder = await client.get(self.lock)
                except Exception as exc:
                    raise self._lost(f"Redis: {type(exc).__name__}") from None
                if holder is not None and holder.decode() == self.token:
                    continue
                rows = await client.xread({self.key: f"0-{self.last}"}, count=256)  # the end may be in
                if not rows:
                    raise self._lost("the leading replica stopped")
            entries = rows[0][1]
            out = []
            for entry_id, fields in entries:
                number = int(entry_id.split(b"-")[1])
                if number != self.last + 1:
                    raise SubscriberTooSlow("This stream was ended: it fell behind the relay of another replica's "
                                            "shared stream.")
                self.last = number
                out.append(fields)
            if out:
                return out

    def _lost(self, why: str) -> BaseException:
        if self.delivered:
            return RelayLost(f"The replica sharing this stream went away ({why}).")
        return LeaderLost(why)


class Lead:
    """A claim this replica holds: renewed until released; what it relays."""

    def __init__(self, relay: Relay, lock: str, rid: str, token: str) -> None:
        self.relay = relay
        self.lock = lock
        self.rid = rid
        self.token = token
        self.key = relay.relay_key(token)
        self.seq = 0
        self._renewer = asyncio.get_running_loop().create_task(self._renew(), name="switchyard-cache-claim")

    async def _renew(self) -> None:
        relay = self.relay
        while True:
            await asyncio.sleep(relay.lock_ttl / 3)
            try:
                held = await relay._renew(keys=[self.lock, self.rid], args=[self.token, relay._claim_ms()])
            except Exception:
                continue  # Redis away for now: followers may take over; try again
            if not held:
                log.warning("cache_claim_lost", extra={"token": self.token[:8]})
                return

    async def listened(self) -> bool:
        """Whether followers on other replicas are reading this relay."""
        value = await self.relay.client.get(self.key + ":fol")
        return value is not None and int(value) > 0

    def _add(self, pipe: Any, fields: dict[str, Any]) -> None:
        self.seq += 1
        pipe.xadd(self.key, fields, id=f"0-{self.seq}", maxlen=RELAY_ENTRIES, approximate=False)
        pipe.pexpire(self.key, int(RELAY_TTL * 1000))

    async def send(self, *entries: dict[str, Any], put: tuple[str, bytes, float] | None = None,
                   release: bool = False) -> None:
        """Append ``entries`` to the relay (one round trip, with the entry kept and the claim
        let go when asked). Redis away: logged, the followers will notice."""
        from redis.exceptions import NoScriptError

        relay = self.relay
        try:
            pipe = relay.client.pipeline(transaction=False)
            for fields in entries:
                self._add(pipe, fields)
            await self._scripts(pipe, put, release)
            try:
                await pipe.execute()
            except NoScriptError:  # Redis restarted: the appends went through, the scripts again
                relay.reloaded()
                pipe = relay.client.pipeline(transaction=False)
                await self._scripts(pipe, put, release)
                await pipe.execute()
        except Exception as exc:
            log.warning("cache_relay_failed", extra={"error": type(exc).__name__})

    async def _scripts(self, pipe: Any, put: tuple[str, bytes, float] | None, release: bool) -> None:
        relay = self.relay
        if put is not None:
            entry_key, data, ttl = put
            store = relay.store
            await relay.evalsha(pipe, PUT, [entry_key, store.lru, store.sizes, store.bytes, store.tick],
                                [data, max(1, int(ttl * 1000)), store.max_bytes])
        if release:
            await relay.evalsha(pipe, RELEASE, [self.lock, self.rid], [self.token])

    async def stop(self) -> None:
        self._renewer.cancel()
        await asyncio.gather(self._renewer, return_exceptions=True)

    async def relay_stream(self, flight: StreamFlight) -> None:
        """Relays ``flight`` from its first chunk until it ends (a task of the leader)."""
        pos = 0
        while True:
            index = pos - flight.base
            if index < 0:
                await self.send({"e": error_bytes(SubscriberTooSlow("The relay fell behind the stream's buffer."))})
                return
            pieces = flight.pieces
            batch = [pieces[i] for i in range(index, len(pieces))]
            done = flight.done
            if batch:
                pos += len(batch)
                await self.send({"p": _ENCODER.encode(batch), "k": flight.cost})
                continue
            if done:
                if flight.error is not None:
                    await self.send({"e": error_bytes(flight.error)})
                else:
                    await self.send({"z": b"1", "k": flight.cost})
                return
            await flight.changed()
