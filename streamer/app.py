"""The gateway: a Starlette app built from lists, Kafka clients started in its lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

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

    # Each API module owns its routes; this list is the whole surface of the gateway.
    routes = [
        *api.routes,
        *relay.routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan)
