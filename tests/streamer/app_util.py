"""The whole gateway app (routes, middleware, error handlers) in-process, without a broker.

Its state is built here as the lifespan would, minus Kafka: handlers that only read, or
that refuse before they produce, run for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from core.settings import KafkaSettings
from core.store import MediaStore
from schemas.status import JobState, StatusEvent
from streamer.app import create_app
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.settings import GatewaySettings
from streamer.state import GatewayState


def offline_client(tmp_path: Path, **settings: Any) -> tuple[TestClient, GatewayState]:
    config = GatewaySettings(data_dir=tmp_path, **{"dev_mode": True, **settings})
    app = create_app(config)
    board = JobBoard()
    state = GatewayState(config, board, GatewayKafka(KafkaSettings(), board), MediaStore(tmp_path))
    app.state.gateway = state
    return TestClient(app, raise_server_exceptions=False), state


def completed_job(state: GatewayState, job_id: str, video: bytes) -> None:
    """A finished job whose final MP4 is `video`."""
    state.board.apply_status(StatusEvent(job_id=job_id, state=JobState.COMPLETED, stage="assembler", at=1.0))
    path = state.store.final_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(video)
