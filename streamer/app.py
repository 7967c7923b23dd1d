"""The gateway: a Starlette app built from lists, Kafka clients started in its lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from processors.store import MediaStore
from streamer import api, relay
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.settings import GatewaySettings
from streamer.state import GatewayState

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        board = JobBoard(settings.jobs_in_memory)
        kafka = GatewayKafka(settings.kafka, board)
        app.state.gateway = GatewayState(settings, board, kafka, MediaStore(settings.data_dir))
        try:
            await kafka.start()
            log.info("gateway connected to kafka at %s", settings.kafka.bootstrap_servers)
            yield
        finally:
            await kafka.stop()

    routes = [
        Route("/health", api.health),
        Route("/api/v1/generate", api.generate, methods=["POST"]),
        Route("/api/v1/status/{job_id}", api.status),
        Route("/api/v1/video/{job_id}", api.video),
        WebSocketRoute("/api/v1/stream/{job_id}", relay.stream),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
