"""The bounded batched writer: batches, overflow policies, retries, nothing lost on close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from switchyard.storage.appender import Appender


class Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, batch: Sequence[int]) -> None:
        await self.gate.wait()
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("database down")
        self.batches.append(list(batch))


def test_records_leave_in_batches_and_close_writes_the_rest() -> None:
    async def run() -> Sink:
        sink = Sink()
        writer = Appender(sink, name="t", capacity=1000, batch=100, interval=5.0)
        writer.start()
        for i in range(250):
            assert writer.add(i)
        await writer.aclose()  # the last 50 are written though the interval has not passed
        assert (writer.written, writer.lost, writer.dropped) == (250, 0, 0)
        return sink

    sink = asyncio.run(run())
    assert [len(b) for b in sink.batches] == [100, 100, 50]
    assert [x for b in sink.batches for x in b] == list(range(250))


def test_drop_counts_what_a_full_buffer_refuses_and_never_waits() -> None:
    async def run() -> None:
        sink = Sink()
        sink.gate.clear()  # the database is slow
        writer = Appender(sink, name="t", capacity=10, batch=5, interval=0.01, overflow="drop")
        writer.start()
        taken = [writer.add(i) for i in range(25)]
        assert taken.count(True) == 10 and writer.dropped == 15
        sink.gate.set()
        await writer.aclose()
        assert writer.written == 10 and writer.lost == 0

    asyncio.run(run())


def test_block_makes_the_writer_wait_for_room_and_loses_nothing() -> None:
    async def run() -> None:
        sink = Sink()
        sink.gate.clear()
        writer = Appender(sink, name="t", capacity=10, batch=5, interval=0.01, overflow="block")
        writer.start()
        for i in range(10):
            assert writer.add(i)
        late = asyncio.ensure_future(writer.put(10))
        await asyncio.sleep(0)
        assert not late.done()  # waiting for room, not dropped
        sink.gate.set()
        assert await asyncio.wait_for(late, 5) is True
        await writer.aclose()
        assert (writer.written, writer.dropped, writer.lost) == (11, 0, 0)

    asyncio.run(run())


def test_a_failing_sink_is_retried_and_the_batch_is_not_lost() -> None:
    async def run() -> Sink:
        sink = Sink(fail_first=2)
        writer = Appender(sink, name="t", capacity=100, batch=10, interval=0.01, retry_max=0.05)
        writer.start()
        for i in range(10):
            writer.add(i)
        await asyncio.wait_for(writer.flushed(), 5)
        assert writer.failures == 2 and writer.written == 10
        await writer.aclose()
        return sink

    assert asyncio.run(run()).batches == [list(range(10))]


def test_close_gives_up_after_its_drain_timeout_and_counts_the_loss() -> None:
    async def run() -> None:
        sink = Sink(fail_first=10**6)  # never comes back
        writer = Appender(sink, name="t", capacity=100, batch=10, interval=0.01, retry_max=0.01, drain_timeout=0.2)
        writer.start()
        for i in range(7):
            writer.add(i)
        await writer.aclose()
        assert writer.lost == 7 and writer.written == 0
        assert writer.add(99) is False and writer.lost == 8  # closed: refused, counted

    asyncio.run(run())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="overflow"):
        Appender(Sink(), name="t", overflow="spill")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity"):
        Appender(Sink(), name="t", capacity=0)
