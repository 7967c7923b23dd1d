"""A client's outbox: bounded by bytes and messages, and a stalled reader makes put() give up."""

from __future__ import annotations

import asyncio

from streamer.outbox import Close, Outbox


async def test_put_waits_for_room_then_gives_up() -> None:
    out = Outbox(max_bytes=10, max_messages=100)
    assert await out.put(b"12345678", stall_s=0.01)
    assert out.queued_bytes == 8
    assert not await out.put(b"abc", stall_s=0.05)  # no reader: too slow

    async def read_soon() -> bytes | str | Close:
        await asyncio.sleep(0.01)
        return await out.get()

    reader = asyncio.create_task(read_soon())
    assert await out.put(b"abc", stall_s=5.0)  # room appears when the reader takes one
    assert await reader == b"12345678" and await out.get() == b"abc"


async def test_message_bound_big_messages_and_close() -> None:
    out = Outbox(max_bytes=1000, max_messages=2)
    assert await out.put("a", 0) and await out.put("b", 0)
    assert not await out.put("c", 0)
    assert await out.put(Close(4408, "x"), 0)  # the close always fits
    assert [await out.get() for _ in range(3)] == ["a", "b", Close(4408, "x")]
    assert await out.put(b"x" * 5000, 0)  # larger than the bound, but alone in an empty queue
