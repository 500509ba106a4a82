"""cache: answers from the response cache, and identical requests in flight coalesced.

For a request to an alias with ``cache:`` (others pass straight through)::

    bypass  not deterministic (temperature above 0, no seed) unless the alias caches
            everything: goes upstream; a stream is still joinable by its request id
    lookup  partition (the caller's tenant, team or key) x key (the canonical request):
            a hit answers at once — a stream is replayed chunk by chunk — with
            ``x-switchyard-cache: hit``, cost 0 and the saving in
            ``x-switchyard-cache-saved-usd`` (a stream's: ``usage.saved_usd``);
            then the semantic cache, if one is plugged in (``SemanticCache``)
    miss    an identical request in flight? share its answer (``x-switchyard-coalesced``;
            across replicas with ``cache.backend: redis``: ``cache/relay.py``);
            else go upstream, and keep the answer unless it calls tools, failed,
            or the client said ``no-store`` (``cache/directives.py``)

The stage sits after admission (a hit still takes its rate-limit unit and is
checked against budgets, at no cost) and before the plugins and the route. It
records on the call what the pipeline's account and the records need:
``call.cached``, ``call.coalesced``, ``call.saved`` and ``route["cache"]``; the
usage and cost of the one upstream call stay on the request that made it. The
store failing (Redis away) makes requests go upstream uncached, never fail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from switchyard.cache.coalesce import Flights
from switchyard.cache.directives import DEFAULT, HEADER, Directives, directives
from switchyard.cache.entry import (
    Entry,
    answer_of,
    calls_tools,
    chunk_of,
    decode,
    encode,
    error_of,
    from_answer,
    keeps,
    refusal_of,
    usage_tuple,
)
from switchyard.cache.flight import Reader, StreamFlight, UnaryFlight, copied
from switchyard.cache.key import deterministic, request_key
from switchyard.cache.partition import partition_of
from switchyard.cache.protocols import CacheUnavailable, ResponseStore, SemanticCache
from switchyard.cache.relay import Decision, Lead, LeaderLost, Relay, error_bytes
from switchyard.cache.store_memory import MemoryStore
from switchyard.core.call import Call
from switchyard.core.config.cache import AliasCache, CacheConfig
from switchyard.core.errors import RelayLost, StreamNotFound, SwitchyardError
from switchyard.core.messages import Chunk
from switchyard.core.stage import Streaming, Unary
from switchyard.pricing.sheet import COST_HEADER, usd

log = logging.getLogger("switchyard.cache")

CACHE = "cache"
_UNKNOWN: Any = object()
SAVED_HEADER = "x-switchyard-cache-saved-usd"
SIMILARITY_HEADER = "x-switchyard-cache-similarity"
#: How often a follower whose leader went away tries again (takes over, or follows the next).
TAKEOVERS = 3


@dataclass(frozen=True, slots=True)
class Policy:
    """An alias's cache settings, resolved against the section's defaults."""

    ttl: float
    nondeterministic: bool
    tool_calls: bool
    errors: bool
    coalesce: bool
    joinable: bool


@dataclass(slots=True)
class Plan:
    """One cacheable request: where its entry lives and what the client asked. ``name`` is its
    entry's and claim's name in Redis (``RedisStore.name``; "" without Redis)."""

    partition: str
    key: bytes
    rules: Directives
    policy: Policy
    tenant: str
    name: str = ""
    #: ``(partition, key)``: where its entry and its flight are found in this process.
    where: tuple[str, bytes] = ("", b"")


class CacheStage:
    """The request stage (see the module docstring); also serves ``GET /v1/streams/{id}``."""

    def __init__(self, settings: CacheConfig, store: ResponseStore, relay: Relay | None = None,
                 semantic: SemanticCache | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.relay = relay
        #: The semantic cache's seam (``protocols.SemanticCache``): asked after an exact miss.
        self.semantic = semantic
        self.clock = clock
        self.flights = Flights(settings.max_in_flight)
        self._max_in_flight = settings.max_in_flight
        #: Whose entries are whose (``cache/partition.py``): ``tenant``, ``team`` or ``key``.
        self._level = settings.partition
        #: The store, when it answers without awaiting (memory): the miss path's cost is most of the stage's.
        self._memory = store if isinstance(store, MemoryStore) else None
        self._policies: dict[int, Policy | None] = {}
        self._warned = 0.0
        #: Relays finishing after their answer left (the leader's client is not kept waiting for Redis).
        self._finishing: set[asyncio.Task[None]] = set()

    # -- decisions ------------------------------------------------------------------------------------
    def policy(self, group: Any) -> Policy | None:
        """The alias's policy, None when it is not cached (memoized by its config: configs live as long
        as the gateway)."""
        config = group.config
        found = self._policies.get(id(config), False)
        if found is not False:
            return found  # type: ignore[return-value]
        alias: AliasCache | None = config.cache
        policy = None if alias is None else Policy(
            alias.ttl if alias.ttl is not None else self.settings.ttl, alias.nondeterministic, alias.tool_calls,
            alias.errors, self.settings.coalesce if alias.coalesce is None else alias.coalesce, alias.joinable)
        self._policies[id(config)] = policy
        return policy

    def _plan(self, call: Call, policy: Policy) -> Plan:
        """The plan of a request that may be cached (``unary`` and ``stream`` decide that first)."""
        headers = call.headers
        rules = directives(headers) if HEADER in headers else DEFAULT
        tenant = partition_of(call.caller, "tenant")
        level = self._level
        partition = tenant if level == "tenant" else partition_of(call.caller, level)
        key = request_key(call)
        if self.relay is None:
            return Plan(partition, key, rules, policy, tenant, "", (partition, key))
        return Plan(partition, key, rules, policy, tenant, self.relay.store.name(partition, key), (partition, key))

    def _fresh(self, entry: Entry | None, plan: Plan, stream: bool) -> bool:
        return self._fresh_for(entry, plan.rules, stream)

    def _fresh_for(self, entry: Entry | None, rules: Directives, stream: bool) -> bool:
        if entry is None or entry.stream is not stream:
            return False
        max_age = rules.max_age
        return max_age is None or self.clock() - entry.at <= max_age

    def _unavailable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 10.0:
            self._warned = now
            log.warning("cache_unavailable", extra={"error": str(exc)})

    async def _get(self, plan: Plan) -> Entry | None:
        if self._memory is not None:
            return self._memory.get_now(plan.partition, plan.key)
        try:
            return await self.store.get(plan.partition, plan.key)
        except CacheUnavailable as exc:
            self._unavailable(exc)
            return None

    async def _similar(self, call: Call, plan: Plan, stream: bool) -> Entry | None:
        semantic = self.semantic
        if semantic is None or plan.rules.no_cache:
            return None
        hit = await semantic.lookup(plan.partition, call.group.alias, call)
        if hit is None or not self._fresh(hit.entry, plan, stream):
            return None
        call.response_headers[SIMILARITY_HEADER] = f"{hit.similarity:.4f}"
        return hit.entry

    def _storable(self, plan: Plan, tools: bool) -> bool:
        return not plan.rules.no_store and (plan.policy.tool_calls or not tools)

    async def _keep(self, call: Call, plan: Plan, entry: Entry) -> None:
        if plan.rules.no_store:
            return
        if self._memory is not None:
            self._memory.put_now(plan.partition, plan.key, entry, plan.policy.ttl)
        else:
            try:
                await self.store.put(plan.partition, plan.key, entry, plan.policy.ttl)
            except CacheUnavailable as exc:
                self._unavailable(exc)
        if self.semantic is not None:
            await self.semantic.store(plan.partition, call.group.alias, call, entry, plan.policy.ttl)

    def _served(self, call: Call, entry: Entry) -> None:
        """Marks a cache hit on the call."""
        call.cached = True
        call.saved = entry.cost
        call.route[CACHE] = "hit"
        headers = call.response_headers
        headers["age"] = str(max(0, int(self.clock() - entry.at)))
        headers[COST_HEADER] = "0"
        headers[SAVED_HEADER] = usd(entry.cost)
        if entry.refusal is not None:
            headers["x-switchyard-cache"] = "hit"  # an error answer carries these, not the route's
            raise error_of(entry.refusal)

    @staticmethod
    def _shared(call: Call, cost: float) -> None:
        """Marks an answer shared with an identical request's upstream call."""
        call.coalesced = True
        call.saved = cost
        call.route["coalesced"] = "true"
        call.response_headers[COST_HEADER] = "0"

    @staticmethod
    def _cost(call: Call, usage: Any) -> float:
        deployment = call.deployment
        if deployment is None or usage is None:
            return 0.0
        cost: float = deployment.price.cost(usage)
        return cost

    # -- unary ------------------------------------------------------------------------------------------
    # ``unary`` and ``stream`` are plain functions: an alias without cache (or a request that may not
    # be cached) gets the rest of the chain's awaitable as it is, one frame less per request.
    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        policy = self._policies.get(id(call.group.config), _UNKNOWN)
        if policy is _UNKNOWN:
            policy = self.policy(call.group)
        if policy is None:
            return next(call)
        if not policy.nondeterministic and not deterministic(call):
            call.route[CACHE] = "bypass"
            return next(call)
        if self.relay is not None:
            return self._unary_shared(call, next, self._plan(call, policy))
        return self._unary(call, next, policy)

    async def _unary(self, call: Call, next: Unary, policy: Policy) -> Any:
        # The miss is most requests' path: written out for it, without a ``Plan`` (each line here is
        # per request; a plan is made only for the parts that take one: another store, a semantic cache).
        headers = call.headers
        rules = directives(headers) if HEADER in headers else DEFAULT
        where = (partition_of(call.caller, self._level), request_key(call))
        memory = self._memory
        if not rules.no_cache:
            entry = memory.lookup(where) if memory is not None else await self._get(self._unary_plan(where, rules, policy))
            if entry is not None and not entry.stream and (rules.max_age is None or self._fresh_for(entry, rules, False)):
                self._served(call, entry)
                return answer_of(entry, call.kind)
            if self.semantic is not None:
                entry = await self._similar(call, self._unary_plan(where, rules, policy), False)
                if entry is not None:
                    self._served(call, entry)
                    return answer_of(entry, call.kind)
        call.route[CACHE] = "miss"
        # In flight, this request is marked by None under ``where``; the first identical request to
        # join puts a flight there, and waits on it (most misses have nobody joining: no flight made).
        owner = False
        unary = self.flights.unary
        if policy.coalesce:
            flight = unary.get(where, _UNKNOWN)
            if flight is _UNKNOWN:
                if len(unary) < self._max_in_flight:
                    unary[where] = None
                    owner = True
            else:
                if flight is None:
                    flight = unary[where] = UnaryFlight()
                answer = await flight.wait(call)
                if answer is not None:
                    self._shared(call, flight.cost)
                    return answer
                # its owner was cancelled: this one goes on its own
        try:
            answer = await next(call)
        except BaseException as exc:
            if owner:
                flight = unary.pop(where, None)
                if flight is not None:
                    self._grounded(flight, exc)
            if policy.errors and keeps(exc) and not rules.no_store:
                await self._keep(call, self._unary_plan(where, rules, policy),
                                 Entry(self.clock(), False, refusal=refusal_of(exc)))  # type: ignore[arg-type]
            raise
        flight = unary.pop(where, None) if owner else None
        if flight is not None:  # someone waits: priced for them (the owner's is the pipeline's)
            flight.resolve(answer, self._cost(call, answer.usage))
        if not rules.no_store and (policy.tool_calls or not calls_tools(answer)):
            if memory is not None and self.semantic is None:  # priced at its first hit, if it has one
                deployment = call.deployment
                memory.keep(where, from_answer(answer, self.clock(), -1.0), policy.ttl,
                            None if deployment is None else deployment.price)
            else:
                cost = flight.cost if flight is not None else self._cost(call, answer.usage)
                await self._keep(call, self._unary_plan(where, rules, policy), from_answer(answer, self.clock(), cost))
        return answer

    @staticmethod
    def _unary_plan(where: tuple[str, bytes], rules: Directives, policy: Policy) -> Plan:
        """The plan of a unary request in this process, for the parts that take one."""
        return Plan(where[0], where[1], rules, policy, "", "", where)

    @staticmethod
    def _grounded(flight: UnaryFlight, exc: BaseException) -> None:
        """A unary flight whose upstream call failed (or was cancelled: the waiters go on their own)."""
        if isinstance(exc, asyncio.CancelledError):
            flight.abandon()
        else:
            flight.fail(exc)

    async def _upstream(self, call: Call, next: Unary, plan: Plan, flight: UnaryFlight | None,
                        lead: Lead | None = None) -> Any:
        """The upstream answer; shared with the flight's waiters (and another replica's, via ``lead``)."""
        try:
            answer = await next(call)
        except asyncio.CancelledError:
            if flight is not None:
                flight.abandon()
            if lead is not None:
                await lead.send({"e": error_bytes(asyncio.CancelledError())}, release=True)
            raise
        except BaseException as exc:
            if flight is not None:
                flight.fail(exc)
            refusal = None
            if plan.policy.errors and keeps(exc) and not plan.rules.no_store:
                refusal = Entry(self.clock(), False, refusal=refusal_of(exc))  # type: ignore[arg-type]
            if lead is not None:
                put = None if refusal is None else self._put(plan, refusal)
                await lead.send({"e": error_bytes(exc)}, put=put, release=True)
            elif refusal is not None:
                await self._keep(call, plan, refusal)
            raise
        finally:
            if lead is not None:
                await lead.stop()
        cost = self._cost(call, answer.usage)
        if flight is not None:
            flight.resolve(answer, cost)
        return answer

    def _put(self, plan: Plan, entry: Entry) -> tuple[str, bytes, float] | None:
        if self.relay is None or plan.rules.no_store:
            return None
        data = encode(entry)
        if len(data) > self.settings.max_entry_bytes:
            return None
        return self.relay.store.entry_key(plan.name), data, plan.policy.ttl

    async def _unary_shared(self, call: Call, next: Unary, plan: Plan) -> Any:
        """The unary path with Redis: the entry and the claim in one round trip, then lead or follow."""
        relay = self.relay
        assert relay is not None
        flights = self.flights
        where = (plan.partition, plan.key)
        coalesce = plan.policy.coalesce
        if coalesce:
            waiting = flights.unary.get(where)
            if waiting is not None:
                answer = await waiting.wait(call)
                if answer is not None:
                    call.route[CACHE] = "miss"
                    self._shared(call, waiting.cost)
                    return answer
        look = not plan.rules.no_cache
        for _ in range(TAKEOVERS):
            try:
                decision, token = (await relay.lookup(plan.name, look=look, claim=coalesce)
                                   if look or coalesce else (Decision(), ""))
            except ConnectionError as exc:
                self._unavailable(exc)
                call.route[CACHE] = "bypass"
                return await next(call)
            if decision.entry is not None:
                entry = decode(decision.entry)
                if self._fresh(entry, plan, False):
                    self._served(call, entry)  # type: ignore[arg-type]
                    return answer_of(entry, call.kind)  # type: ignore[arg-type]
                look = False  # too old for this client: claim a fresh call
                continue
            if look:
                entry = await self._similar(call, plan, False)
                if entry is not None:
                    self._served(call, entry)
                    return answer_of(entry, call.kind)
            call.route[CACHE] = "miss"
            flight = None
            if coalesce and where not in flights.unary and flights.room():
                flight = flights.unary[where] = UnaryFlight()
            try:
                if decision.token is not None:  # another replica is asking: follow it
                    try:
                        data = await relay.follow_unary(relay.lock_key(plan.name), decision.token,
                                                        call.deadline)
                    except LeaderLost:
                        look = True
                        continue
                    except BaseException as exc:
                        if flight is not None:
                            flight.fail(exc)
                        raise
                    entry = decode(data)
                    if entry is None:
                        raise SwitchyardError("Another replica's shared answer could not be read.")
                    answer = answer_of(entry, call.kind)
                    if flight is not None:
                        flight.resolve(answer, entry.cost)
                    self._shared(call, entry.cost)
                    return answer
                lead = relay.lead(plan.name, token) if decision.lead else None
                answer = await self._upstream(call, next, plan, flight, lead)
            finally:
                if flight is not None and flights.unary.get(where) is flight:
                    del flights.unary[where]
            entry = from_answer(answer, self.clock(), flight.cost if flight else self._cost(call, answer.usage))
            storable = self._storable(plan, calls_tools(answer))
            if lead is not None:
                self._later(lead.send({"a": encode(entry)}, put=self._put(plan, entry) if storable else None,
                                      release=True))
                if storable and self.semantic is not None:
                    await self.semantic.store(plan.partition, call.group.alias, call, entry, plan.policy.ttl)
            elif storable:
                await self._keep(call, plan, entry)
            return answer
        raise RelayLost("The replicas sharing this request kept going away.")

    # -- streams ----------------------------------------------------------------------------------------
    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]:
        policy = self.policy(call.group)
        if policy is None:
            return next(call)
        if not policy.nondeterministic and not deterministic(call):
            call.route[CACHE] = "bypass"
            if policy.joinable:
                return self._lead(call, next, None, partition_of(call.caller, "tenant"))
            return next(call)
        plan = self._plan(call, policy)
        if self.relay is not None:
            return self._stream_shared(call, next, plan)
        return self._stream(call, next, plan)

    async def _stream(self, call: Call, next: Streaming, plan: Plan) -> AsyncIterator[Any]:
        if not plan.rules.no_cache:
            entry = await self._get(plan)
            if not self._fresh(entry, plan, True):
                entry = await self._similar(call, plan, True)
            if entry is not None:
                self._served(call, entry)
                return _replay(entry)
        call.route[CACHE] = "miss"
        if plan.policy.coalesce:
            flight = self.flights.streams.get((plan.partition, plan.key))
            if flight is not None:
                return await self._follow(call, flight, plan.tenant)
        return await self._lead(call, next, plan, plan.tenant)

    async def _follow(self, call: Call, flight: StreamFlight, tenant: str) -> Reader:
        """Read ``flight`` from its first chunk, as another request's shared answer."""
        reader = flight.reader(call)
        self._shared(call, 0.0)
        self.flights.name(tenant, call.request_id, flight)
        try:
            await asyncio.shield(flight.opened)
        except BaseException as exc:
            await reader.aclose()
            raise copied(exc) from None
        return reader

    def _flight(self, call: Call, owner: Call | None) -> StreamFlight:
        return StreamFlight(self.settings.stream_buffer_bytes, owner, surface=_surface(call), model=call.request.model)

    def _share(self, flight: StreamFlight, plan: Plan | None) -> tuple[str, bytes] | None:
        """Let identical requests find ``flight`` (when they may, and there is room)."""
        if plan is None or not plan.policy.coalesce:
            return None
        where = (plan.partition, plan.key)
        flights = self.flights
        if where in flights.streams or not flights.room():
            return None
        flights.streams[where] = flight
        return where

    async def _lead(self, call: Call, next: Streaming, plan: Plan | None, tenant: str,
                    lead: Lead | None = None) -> Reader:
        """Go upstream for ``call``, as a flight others may share (``plan``: coalesced and kept) or join."""
        flight = self._flight(call, call)
        where = self._share(flight, plan)
        self.flights.name(tenant, call.request_id, flight)
        if lead is not None:
            self._relay(flight, lead)

        async def source(_: StreamFlight) -> AsyncIterator[Chunk]:
            return await self._open(call, next, flight)

        async def ended(done: StreamFlight) -> None:
            self.flights.release(done, where)
            await self._stream_ended(call, plan, done)

        flight.on_end = ended
        flight.start(source)
        reader = flight.reader(call, owner=True)
        try:
            await asyncio.shield(flight.opened)
        except BaseException:
            await reader.aclose()
            raise
        return reader

    @staticmethod
    def _relay(flight: StreamFlight, lead: Lead) -> None:
        flight.lead = lead
        flight.listened = lead.listened
        flight.writer = asyncio.get_running_loop().create_task(lead.relay_stream(flight), name="switchyard-relay")

    @staticmethod
    async def _open(call: Call, next: Streaming, flight: StreamFlight) -> AsyncIterator[Chunk]:
        chunks = await next(call)
        deployment = call.deployment
        if deployment is not None:
            flight.price = deployment.price.cost
        return chunks

    async def _stream_ended(self, call: Call, plan: Plan | None, flight: StreamFlight) -> None:
        """Keep the stream (or its refusal) when it may be kept; end the relay and the claim."""
        entry = None
        if plan is not None and flight.owner is not None:
            error = flight.error
            if error is None and flight.whole and flight.pieces and self._storable(plan, flight.tools):
                entry = Entry(self.clock(), True, usage=usage_tuple(flight.usage), pieces=tuple(flight.pieces),
                              cost=flight.cost)
            elif error is not None and not flight.pieces and plan.policy.errors and keeps(error) \
                    and not plan.rules.no_store:
                entry = Entry(self.clock(), True, refusal=refusal_of(error))  # type: ignore[arg-type]
        lead: Lead | None = flight.lead
        if lead is None:
            if entry is not None and plan is not None:
                await self._keep(call, plan, entry)
            return
        if flight.writer is not None:
            await asyncio.gather(flight.writer, return_exceptions=True)
        await lead.stop()
        await lead.send(put=None if entry is None or plan is None else self._put(plan, entry), release=True)
        if entry is not None and plan is not None and self.semantic is not None:
            await self.semantic.store(plan.partition, call.group.alias, call, entry, plan.policy.ttl)

    async def _stream_shared(self, call: Call, next: Streaming, plan: Plan) -> AsyncIterator[Any]:
        """The streaming path with Redis: a local flight first, then the entry and the claim in one round
        trip; lead, or follow another replica's relay (taking over if it went away before sending)."""
        relay = self.relay
        assert relay is not None
        coalesce = plan.policy.coalesce
        if coalesce:
            flight = self.flights.streams.get((plan.partition, plan.key))
            if flight is not None:
                call.route[CACHE] = "miss"
                return await self._follow(call, flight, plan.tenant)
        named = (plan.tenant, call.request_id, _surface(call), call.request.model) if coalesce else None
        look = not plan.rules.no_cache
        decision, token = Decision(), ""
        while look or coalesce:
            try:
                decision, token = await relay.lookup(plan.name, look=look, claim=coalesce,
                                                     named=named)
            except ConnectionError as exc:
                self._unavailable(exc)
                call.route[CACHE] = "bypass"
                return await self._lead(call, next, None, plan.tenant)
            if decision.entry is None:
                break
            entry = decode(decision.entry)
            if entry is not None and self._fresh(entry, plan, True):
                self._served(call, entry)
                return _replay(entry)
            look = False  # too old for this client (or unreadable): a fresh call
        if not plan.rules.no_cache:
            entry = await self._similar(call, plan, True)
            if entry is not None:
                self._served(call, entry)
                return _replay(entry)
        call.route[CACHE] = "miss"
        if decision.token is None:
            lead = relay.lead(plan.name, token, (plan.tenant, call.request_id)) \
                if decision.lead else None
            return await self._lead(call, next, plan, plan.tenant, lead)
        return await self._follow_replica(call, next, plan, decision.token)

    async def _follow_replica(self, call: Call, next: Streaming, plan: Plan, token: str) -> Reader:
        """Share another replica's stream through its relay, as a local flight others here may join."""
        relay = self.relay
        assert relay is not None
        flight = self._flight(call, None)
        where = self._share(flight, plan)
        self.flights.name(plan.tenant, call.request_id, flight)
        lock = relay.lock_key(plan.name)
        named = (plan.tenant, call.request_id, _surface(call), call.request.model)

        async def source(this: StreamFlight) -> AsyncIterator[Chunk]:
            following: str | None = token
            for _ in range(TAKEOVERS):
                if following is not None:
                    try:
                        return await relay.follow_stream(lock, following, this, call.deadline)
                    except LeaderLost:
                        pass
                again, mine = await relay.lookup(plan.name, look=True, claim=True, named=named)
                if again.entry is not None:
                    entry = decode(again.entry)
                    if entry is not None and entry.stream and entry.refusal is None:
                        this.cost = entry.cost
                        return _replay(entry, shared=True)
                if again.lead:
                    return await self._take_over(call, next, this, relay.lead(
                        plan.name, mine, (plan.tenant, call.request_id)))
                following = again.token
            raise RelayLost("The replicas sharing this stream kept going away.")

        async def ended(done: StreamFlight) -> None:
            self.flights.release(done, where)
            if done.lead is not None:
                await self._stream_ended(call, plan, done)

        flight.on_end = ended
        flight.start(source)
        reader = flight.candidate = flight.reader(call)
        self._shared(call, 0.0)
        try:
            await asyncio.shield(flight.opened)
        except BaseException as exc:
            await reader.aclose()
            raise copied(exc) from None
        return reader

    async def _take_over(self, call: Call, next: Streaming, flight: StreamFlight,
                         lead: Lead) -> AsyncIterator[Chunk]:
        """The replica this one followed went away before sending anything: this one leads now, for
        the request that made the flight (whose reader becomes the owner's)."""
        reader = flight.candidate
        if reader is None or reader.closed:
            await lead.stop()
            await lead.send(release=True)
            raise RelayLost("The replica sharing this stream went away.")
        reader.owner = True
        flight.owner = call
        call.coalesced = False
        call.saved = None
        call.route.pop("coalesced", None)
        call.response_headers.pop(COST_HEADER, None)
        self._relay(flight, lead)
        return await self._open(call, next, flight)

    # -- GET /v1/streams/{request_id} ---------------------------------------------------------------------
    async def join(self, caller: Any, request_id: str) -> tuple[AsyncIterator[Chunk], str, str]:
        """A stream in flight for ``caller``'s tenant, from its first chunk: ``(chunks, surface, model)``."""
        tenant = partition_of(caller, "tenant")
        flight = self.flights.by_id.get((tenant, request_id))
        if flight is not None and not flight.done:
            return flight.reader(None), flight.surface, flight.model
        relay = self.relay
        if relay is not None:
            named = await relay.find(tenant, request_id)
            if named is not None:
                followed = StreamFlight(self.settings.stream_buffer_bytes, None, surface=named.surface,
                                        model=named.model)

                async def source(this: StreamFlight) -> AsyncIterator[Chunk]:
                    try:
                        return await relay.follow_stream(named.lock, named.token, this, None)
                    except LeaderLost:
                        raise StreamNotFound(f"No stream `{request_id}` is in flight.") from None

                followed.start(source)
                reader = followed.reader(None)
                try:
                    await asyncio.shield(followed.opened)
                except BaseException as exc:
                    await reader.aclose()
                    raise copied(exc) from None
                return reader, named.surface, named.model
        raise StreamNotFound(f"No stream `{request_id}` is in flight for this tenant.", param="request_id")

    def _later(self, work: Awaitable[None]) -> None:
        """Finish ``work`` after the answer left (its task is held until done, awaited at close)."""
        task = asyncio.ensure_future(work)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def flushed(self) -> None:
        """Returns once the relays and entries of answers already given are written."""
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def start(self) -> None:
        """Background work of the parts: the semantic cache's (following shared entries, loading its model)."""
        if self.semantic is not None:
            await self.semantic.start()

    async def aclose(self) -> None:
        await self.flushed()
        if self.semantic is not None:
            await self.semantic.aclose()
        await self.store.aclose()


def _surface(call: Call) -> str:
    native = getattr(call.request, "native", None)
    return native[0] if native is not None else "openai"


async def _replay(entry: Entry, shared: bool = False) -> AsyncIterator[Chunk]:
    """A kept stream, chunk by chunk as it was sent; its usage chunk says cost 0 and the saving."""
    if entry.refusal is not None:
        raise error_of(entry.refusal)
    for piece in entry.pieces:
        if piece.usage is None:
            yield Chunk(raw=piece.raw, more=piece.more, native=piece.native)
        elif shared:
            yield chunk_of(piece)
        else:
            yield chunk_of(piece, cost=0.0, saved=entry.cost)
