"""The relay's guarantees on the real stack: resume and late join with no gap or duplicate, replicas.

The slow-client policy is tested at the ASGI level in tests/streamer/test_relay.py (a
loopback socket buffers megabytes, more than a short test job produces).
"""

from __future__ import annotations

import asyncio
import random
import time

import orjson
import websockets

from cli.client import submit, watch
from cli.stack import Stack
from core.store import MediaStore
from schemas.ws import KIND_INIT, MediaMessage
from tests.e2e.gateway_util import completed, extra_gateway

SCRIPT = ("Resuming works from any segment. A client may drop at any moment. "
          "It comes back with the next sequence number. Nothing is missing and nothing repeats.")


async def _flaky_watch(base_url: str, job_id: str, rng: random.Random, start_seq: int) -> tuple[bytes, list[MediaMessage], int]:
    """Watches from `start_seq`, hanging up after a random number of segments and resuming
    with `?from_seq=` the next one, until the end message; returns init, media and reconnects."""
    ws_base = base_url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}"
    init, media, next_seq, reconnects = b"", [], start_seq, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        budget = rng.randint(0, 3)
        async with websockets.connect(f"{ws_base}?from_seq={next_seq}", max_size=None) as ws:
            async for message in ws:
                if isinstance(message, str):
                    if orjson.loads(message)["type"] == "end":
                        return init, media, reconnects
                    continue
                unpacked = MediaMessage.unpack(message)
                if unpacked.kind == KIND_INIT:
                    init = unpacked.data
                    continue
                media.append(unpacked)
                next_seq = unpacked.seq + 1
                budget -= 1
                if budget < 0:
                    break  # hang up mid-stream, as a flaky network would
        reconnects += 1
    raise AssertionError("flaky watcher did not reach the end")


async def test_resume_and_late_join_match_the_assembled_file(stack: Stack) -> None:
    rng = random.Random(1234)
    started = time.perf_counter()
    job_id = await submit(stack.url, SCRIPT)
    live = [asyncio.create_task(_flaky_watch(stack.url, job_id, random.Random(rng.random()), 0)) for _ in range(4)]
    first = await watch(stack.url, job_id, started)  # an uninterrupted reference watcher
    total = len(first.media)
    late = [await _flaky_watch(stack.url, job_id, random.Random(rng.random()), rng.randrange(total))
            for _ in range(2)]
    await completed(stack.url, job_id)
    init, segments = MediaStore(stack.data_dir).read_segments(job_id, total)
    assert first.init == init and [m.data for m in first.media] == segments
    for got_init, media, _ in [await task for task in live]:
        assert got_init == init
        assert [m.seq for m in media] == list(range(total)), "gap or duplicate"
        assert [m.data for m in media] == segments
    for got_init, media, _ in late:
        start = media[0].seq
        assert got_init == init and [m.seq for m in media] == list(range(start, total))
        assert [m.data for m in media] == segments[start:]
    assert sum(r for _, _, r in [await t for t in live]) > 0, "the watchers never reconnected"


async def test_replicas_each_relay_every_job(stack: Stack) -> None:
    with extra_gateway(stack, "gateway-replica") as replica:
        started = time.perf_counter()
        job_id = await submit(replica, "Submitted to one replica, watched on both.")
        results = await asyncio.gather(watch(stack.url, job_id, started), watch(replica, job_id, started))
    assert results[0].init == results[1].init and len(results[0].media) >= 1
    assert [m.data for m in results[0].media] == [m.data for m in results[1].media]


async def test_loadtest_small(stack: Stack) -> None:
    """A small run of `avatar-stream loadtest`: every stream complete and equal to the stored segments."""
    from cli.loadtest import run_load

    report = await run_load(stack.url, watchers=6, jobs=2, text="Load test.", data_dir=stack.data_dir)
    for phase in ("one_job_many_watchers", "concurrent_jobs"):
        assert report[phase]["complete_streams"] == report[phase]["streams"] > 0, report
