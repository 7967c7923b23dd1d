"""A WebSocket client's bounded queue of outgoing messages.

The relay puts, one sender task per client takes. A client that reads too slowly
fills its own queue and is dropped; it never holds up the pipeline or the other
clients, and the gateway never buffers more than the bound for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Close:
    """The last item: the sender closes the socket with this code once all before it is sent."""

    code: int = 1000
    reason: str = ""


Item = str | bytes | Close


class Outbox:
    def __init__(self, max_bytes: int, max_messages: int) -> None:
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_messages = max_messages
        self._ready = asyncio.Event()
        self._room = asyncio.Event()

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def _fits(self, size: int) -> bool:
        # One message larger than the whole bound still goes alone through an empty queue.
        return not self._items or (self._bytes + size <= self._max_bytes
                                   and len(self._items) < self._max_messages)

    async def put(self, item: Item, stall_s: float) -> bool:
        """Waits up to `stall_s` for room; False means the client is too slow and must go."""
        size = 0 if isinstance(item, Close) else len(item)
        if not isinstance(item, Close) and not self._fits(size):
            deadline = asyncio.get_running_loop().time() + stall_s
            while not self._fits(size):
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return False
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), remaining)
                except TimeoutError:
                    return False
        self._items.append(item)
        self._bytes += size
        self._ready.set()
        return True

    async def get(self) -> Item:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if not isinstance(item, Close):
            self._bytes -= len(item)
        self._room.set()
        return item
