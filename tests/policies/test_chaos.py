"""Chaos: steady concurrent load (streaming and not) over three upstreams while one
is killed and restarted. Every request succeeds or gets a clear error within its
deadline; none hangs, none goes unanswered."""

import asyncio
import collections
import threading
import time

import openai

from tests.policies.upstreams import Killable

DEADLINE = 3.0  # the client's x-switchyard-timeout
WORKERS = 12
MAX_REQUESTS = 5000
MAX_SECONDS = 8.0


def test_load_survives_an_upstream_killed_and_restarted(start_gateway):
    upstreams = [Killable(chunk_delay_ms=2), Killable(chunk_delay_ms=2), Killable(chunk_delay_ms=2)]
    try:
        gateway = start_gateway({
            "auth": {"master_key": "sk-m"},
            "reliability": {"retry": {"attempts": 2, "base_delay": 0.01},
                            "breaker": {"consecutive_failures": 3, "open_for": 0.5},
                            "timeouts": {"first_token": 1.0, "idle": 1.0}},
            "models": {"gpt": {"deployments": [
                {"provider": "openai", "model": "m", "base_url": u.base_url, "api_key": "k", "id": f"up-{i}"}
                for i, u in enumerate(upstreams)]}},
        })
        counts: collections.Counter[str] = collections.Counter()
        slowest = [0.0]
        stop = threading.Event()

        async def worker(n: int, client: openai.AsyncOpenAI) -> None:
            i = 0
            while not stop.is_set() and sum(counts.values()) < MAX_REQUESTS:
                i += 1
                stream = (n + i) % 2 == 0
                started = time.monotonic()
                try:
                    if stream:
                        chunks = await client.chat.completions.create(
                            model="gpt", messages=[{"role": "user", "content": "a b c d e f g h"}], stream=True)
                        text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
                        assert "a b c d e f g h" in text
                        counts["stream ok"] += 1
                    else:
                        reply = await client.chat.completions.create(
                            model="gpt", messages=[{"role": "user", "content": "a b c"}])
                        assert "a b c" in reply.choices[0].message.content
                        counts["plain ok"] += 1
                except (openai.APIStatusError, openai.APIError) as exc:
                    assert str(exc)  # a clear error, with a message
                    counts[f"{'stream' if stream else 'plain'} error {getattr(exc, 'status_code', 'in-stream')}"] += 1
                slowest[0] = max(slowest[0], time.monotonic() - started)

        async def chaos() -> None:
            client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0,
                                        timeout=DEADLINE + 5, default_headers={"x-switchyard-timeout": str(DEADLINE)})
            tasks = [asyncio.create_task(worker(n, client)) for n in range(WORKERS)]
            await asyncio.sleep(1.0)
            upstreams[1].stop()
            await asyncio.sleep(2.0)
            upstreams[1].start()
            await asyncio.sleep(1.5)
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=MAX_SECONDS)
            assert not pending, "a request hung"
            for task in done:
                task.result()  # an unexpected exception fails the test
            await client.close()

        started = time.monotonic()
        asyncio.run(chaos())
        print(f"\nchaos: {dict(counts)} in {time.monotonic() - started:.1f}s; slowest request {slowest[0]:.2f}s")
        total = sum(counts.values())
        ok = counts["stream ok"] + counts["plain ok"]
        assert total >= 50
        assert ok >= 0.9 * total  # two healthy upstreams absorb the load
        assert slowest[0] < DEADLINE + 2  # nobody waited past the deadline (with margin)
        assert upstreams[1].count("/v1/chat/completions") > 0  # it came back into rotation
    finally:
        for upstream in upstreams:
            upstream.stop()
