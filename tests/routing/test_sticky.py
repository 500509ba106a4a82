"""Session stickiness: consistent hashing, moving and staying, memory and Redis tables."""

import uuid

import pytest
import redis.asyncio as aioredis

from switchyard.routing.sticky import HashRing
from switchyard.storage import open_store

from .helpers import Down, ask, build, call, chat, client, fakes


class D:
    def __init__(self, id):
        self.id = id


def test_adding_a_deployment_moves_few_sessions_and_only_to_it():
    ring = HashRing()
    before = [D(f"d{i}") for i in range(10)]
    after = [*before, D("d10")]
    sessions = [f"s{i}" for i in range(4000)]
    homes = {s: ring.home(s, before).id for s in sessions}
    moved = [s for s in sessions if ring.home(s, after).id != homes[s]]
    assert 0 < len(moved) / len(sessions) < 1 / 11 + 0.05  # ideal 1/11 ~ 9%
    assert all(ring.home(s, after).id == "d10" for s in moved)


def test_removing_a_deployment_moves_only_its_sessions():
    ring = HashRing()
    full = [D(f"d{i}") for i in range(8)]
    sessions = [f"s{i}" for i in range(2000)]
    homes = {s: ring.home(s, full).id for s in sessions}
    fewer = [d for d in full if d.id != "d3"]
    for s in sessions:
        if homes[s] != "d3":
            assert ring.home(s, fewer).id == homes[s]


def sticky_router(kv=None):
    catalog, router = build({"g": {"deployments": fakes(4)}}, {"sticky": {"ttl": 60}}, kv=kv)
    return catalog.resolve("g"), router


async def route(router, group, session):
    c = call(x_session_id=session)
    chosen = await router.order(group, chat(), c)
    return chosen[0], c.route.get("session")


async def check_move_and_stay(router, group):
    home, how = await route(router, group, "alice")
    assert how == "hashed"
    for _ in range(5):  # round robin would spread these; the session keeps its home
        assert (await route(router, group, "alice"))[0] is home
    home.health = Down()
    new_home, how = await route(router, group, "alice")
    assert new_home is not home and how == "moved"
    del home.health  # the old home recovers ...
    home.health = type("Up", (), {"available": True})()
    again, how = await route(router, group, "alice")
    assert again is new_home and how == "kept"  # ... and the session stays on its new home


async def test_memory_table_moves_and_stays():
    group, router = sticky_router()
    await check_move_and_stay(router, group)


async def test_redis_table_moves_and_stays(redis_url, redis_prefix):
    client = aioredis.Redis.from_url(redis_url)
    store = open_store(redis_url, prefix=redis_prefix)  # the shared store: its kv is the table
    try:
        group, router = sticky_router(store.kv)
        await check_move_and_stay(router, group)
        assert await client.get(f"{redis_prefix}sticky:g:alice") is not None
        ttl = await client.pttl(f"{redis_prefix}sticky:g:alice")
        assert 0 < ttl <= 60_000
    finally:
        for key in await client.keys(redis_prefix + "*"):
            await client.delete(key)
        await client.aclose()
        await store.aclose()


async def test_session_sources_in_order():
    group, router = sticky_router()
    c = call()
    await router.order(group, chat(user="u1"), c)
    assert c.route["session"] == "hashed"
    c = call()
    await router.order(group, chat(), c)
    assert "session" not in c.route  # no session id: balancing alone


def test_bad_session_source_is_a_config_error():
    from switchyard.core.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="session source"):
        parse_config({"routing": {"sticky": {"session_from": ["cookie:sid"]}}})


def gateway_config(mocks, redis_url, prefix, ids):
    deployments = [{"provider": "openai", "model": "gpt-4o-mini", "id": i, "base_url": mocks[i].base_url,
                    "api_key": "sk-x"} for i in ids]
    return {"models": {"chat": {"deployments": deployments}}, "routing": {"sticky": {}},
            "redis": {"url": redis_url, "prefix": prefix}}


def test_two_gateway_processes_share_the_sticky_table(start_mock, start_gateway_process, redis_url, redis_prefix):
    """Replica B has an extra deployment listed first; sessions placed by A keep their home on B,
    which only the shared table can explain (B's own hash would send about a third to `m3`)."""
    mocks = {i: start_mock() for i in ("m1", "m2", "m3")}
    a = client(start_gateway_process(gateway_config(mocks, redis_url, redis_prefix, ["m1", "m2"])))
    b = client(start_gateway_process(gateway_config(mocks, redis_url, redis_prefix, ["m3", "m1", "m2"])))
    sessions = [f"s-{uuid.uuid4().hex[:8]}" for _ in range(24)]
    homes = {s: ask(a, headers={"x-session-id": s}).headers["x-switchyard-deployment"] for s in sessions}
    assert set(homes.values()) == {"m1", "m2"}
    for s in sessions:
        r = ask(b, headers={"x-session-id": s})
        assert (r.headers["x-switchyard-deployment"], r.headers["x-switchyard-session"]) == (homes[s], "kept")
    # fresh sessions on B use B's ring, which includes m3
    fresh = {ask(b, headers={"x-session-id": f"new-{uuid.uuid4().hex}"}).headers["x-switchyard-deployment"]
             for _ in range(30)}
    assert "m3" in fresh


async def test_the_router_keeps_no_state_between_calls_a_session_lands_the_same_way():
    group, router = sticky_router()
    c = call(x_session_id="carol")
    first = await router.order(group, chat(), c)
    router.candidates(group, chat(user="someone-else"), call(x_session_id="dave"))  # interleaved: changes nothing
    other = call(x_session_id="carol")
    without = await router.order(group, chat(), other)
    assert first[0] is without[0] and sorted(d.id for d in without) == ["d0", "d1", "d2", "d3"]
    assert c.route["session"] == "hashed" and other.route["session"] == "kept"
    group.deployments[int(without[0].id[1:])].health = Down()
    moved = await route(router, group, "carol")
    assert moved[0] is not without[0] and moved[1] == "moved"


async def test_a_weighted_canary_stays_90_10_with_stickiness_on():
    """Each deployment holds a share of the ring by weight: 2,000 sessions land within 3 points of 90/10."""
    catalog, router = build({"g": {"strategy": "weighted", "deployments": [
        {"provider": "fake", "model": "echo", "id": "stable", "weight": 90},
        {"provider": "fake", "model": "echo", "id": "canary", "weight": 10}]}}, {"sticky": {"ttl": 60}})
    group = catalog.resolve("g")
    homes = [(await route(router, group, f"session-{i}"))[0].id for i in range(2000)]
    assert abs(homes.count("canary") / 2000 - 0.10) <= 0.03, homes.count("canary")
    again = [(await route(router, group, f"session-{i}"))[0].id for i in range(200)]
    assert again == homes[:200]  # and each stays where it landed


async def test_a_dynamic_strategy_places_a_new_session_where_it_would_send_the_request():
    """least_busy: a new session goes to the idle deployment, not to its hash; then it stays."""
    catalog, router = build({"g": {"strategy": "least_busy", "deployments": fakes(2)}}, {"sticky": {"ttl": 60}})
    group = catalog.resolve("g")
    busy, idle = group.deployments
    busy.load.inflight = 5
    for i in range(20):
        home, how = await route(router, group, f"new-{i}")
        assert home is idle and how == "placed"
    busy.load.inflight, idle.load.inflight = 0, 9
    assert (await route(router, group, "new-0"))[0] is idle  # kept, though now the busier one
