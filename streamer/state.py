"""What the gateway's handlers share, built in the lifespan and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass

from processors.store import MediaStore
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.settings import GatewaySettings


@dataclass
class GatewayState:
    settings: GatewaySettings
    board: JobBoard
    kafka: GatewayKafka
    store: MediaStore
