"""What the gateway's handlers share, built in the lifespan and kept on app.state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from core.store import MediaStore
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.metrics import GatewayMetrics
from streamer.settings import GatewaySettings
from streamer.workers import WorkerBoard

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    settings: GatewaySettings
    board: JobBoard
    kafka: GatewayKafka
    store: MediaStore
    workers: WorkerBoard = field(default_factory=WorkerBoard)
    metrics: GatewayMetrics = None  # type: ignore[assignment]  # made from the boards when not given
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = GatewayMetrics(self.board, self.workers)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Background work that outlives a request; cancelled by `stop()` in the lifespan."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        tasks, self.tasks = set(self.tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
