"""CPU seconds charged to the record whose work they were, also while other records' work
runs at the same time on other threads."""

from __future__ import annotations

import asyncio
import time

from processors.context import StageContext
from processors.cpu_pool import DeadlinePool
from processors.usage import current_meter, start_meter


def _spin(seconds: float) -> float:
    """Burns this thread's CPU for about `seconds`."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass
    return seconds


async def test_run_cpu_charges_its_threads_cpu_to_the_record_in_hand() -> None:
    pool = DeadlinePool(2)
    ctx = StageContext(app=None, topics=None, settings=None, store=None, avatars=None,  # type: ignore[arg-type]
                       executor=pool, control=None)

    async def record(seconds: float) -> float:
        meter = start_meter()
        await ctx.run_cpu(_spin, seconds)
        await ctx.run_cpu(time.sleep, 0.1)  # waiting is not CPU time
        assert current_meter.get() is meter
        return meter.cpu_s

    try:
        short, long = await asyncio.gather(asyncio.create_task(record(0.05)), asyncio.create_task(record(0.3)))
    finally:
        pool.shutdown()
    assert 0.05 <= short < 0.15 and 0.3 <= long < 0.4, (short, long)
