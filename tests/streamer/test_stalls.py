"""Stuck jobs: which stage a job waits in, when it shows `stalled`, and that progress clears it,
on GET /api/v1/status's body and in the WebSocket's status messages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette

from core.settings import KafkaSettings
from core.store import MediaStore
from schemas.http import JobStatus
from schemas.pipeline import SegmentMeta
from schemas.status import JobState, StatusEvent
from schemas.workers import WorkerHeartbeat
from streamer import relay
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.settings import GatewaySettings
from streamer.stalls import mark_stalls, owed_stages, waiting_stage
from streamer.state import GatewayState
from streamer.workers import WorkerBoard

ALL_LIVE = {"chunker": 1, "tts": 1, "lipsync": 1, "encoder": 1, "assembler": 1}


def _event(state: JobState, stage: str, at: float, **fields: Any) -> StatusEvent:
    return StatusEvent(job_id="job", state=state, stage=stage, at=at, **fields)


def _workers(stages: list[str], at: float) -> WorkerBoard:
    board = WorkerBoard()
    board.apply("w", WorkerHeartbeat(worker_id="w", host="h", pid=1, stages=stages, interval_s=1.0,
                                     at=at, started_at=0.0))
    return board


@pytest.mark.parametrize(("stage", "fields", "end_seen", "first"), [
    ("gateway", {"progress": 0.0}, False, "chunker"),
    ("chunker", {"progress": 0.0, "sentences": 3}, False, "tts"),
    ("tts", {"progress": 0.5}, False, "tts"),
    ("tts", {"progress": 1.0}, False, "lipsync"),
    ("lipsync", {}, False, "tts"),  # lipsync's first chunk came while tts still speaks
    ("encoder", {"segments": 4}, False, "assembler"),
    ("tts", {"progress": 0.5}, True, "assembler"),
    ("avatars", {"progress": 0.3}, False, "avatars"),
])
def test_the_stage_a_job_waits_in_follows_its_last_report(stage: str, fields: dict[str, Any],
                                                          end_seen: bool, first: str) -> None:
    board = JobBoard()
    if stage != "gateway":
        board.apply_status(_event(JobState.RUNNING, "chunker", 1.0, sentences=3, progress=0.0))
    view = board.apply_status(_event(JobState.QUEUED if stage == "gateway" else JobState.RUNNING,
                                     stage, 2.0, **fields))
    assert owed_stages(view.status, end_seen)[0] == first
    assert waiting_stage(view.status, end_seen, {**ALL_LIVE, "avatars": 1})[0] == first


def test_the_first_owing_stage_without_a_live_worker_is_named_as_the_cause() -> None:
    status = JobStatus(job_id="job", state=JobState.RUNNING, stage="tts", progress=0.9)
    assert waiting_stage(status, False, {**ALL_LIVE, "encoder": 0}) == (
        "encoder", "no live worker runs encoder")
    assert waiting_stage(status, False, ALL_LIVE) == (
        "lipsync", "no progress in lipsync, which 1 live worker(s) run")


def test_stalled_after_stall_s_and_cleared_by_progress() -> None:
    board = JobBoard()
    view = board.apply_status(_event(JobState.RUNNING, "chunker", 100.0, sentences=2, progress=0.0))
    workers = _workers(["chunker", "lipsync", "encoder", "assembler"], at=109.0)
    mark_stalls(board, workers, stall_s=10.0, now=109.9)
    assert view.status.stalled is None
    mark_stalls(board, workers, stall_s=10.0, now=110.0)
    stall = view.status.stalled
    assert stall is not None and (stall.stage, stall.since) == ("tts", 100.0)
    assert stall.reason == "no live worker runs tts"
    body = orjson.loads(view.status.to_json())
    assert body["stalled"] == {"v": 1, "stage": "tts", "since": 100.0,
                               "reason": "no live worker runs tts"}
    board.apply_status(_event(JobState.RUNNING, "tts", 111.0, progress=0.5))
    assert view.status.stalled is None and view.progress_at == 111.0
    mark_stalls(board, workers, stall_s=10.0, now=115.0)
    assert view.status.stalled is None
    mark_stalls(board, workers, stall_s=10.0, now=121.0)
    assert view.status.stalled is not None and view.status.stalled.since == 111.0
    board.apply_segment(SegmentMeta(job_id="job", kind="media", seq=0), b"x", at=122.0)
    assert view.status.stalled is None


def test_finished_jobs_never_stall() -> None:
    board = JobBoard()
    view = board.apply_status(_event(JobState.COMPLETED, "assembler", 1.0))
    mark_stalls(board, WorkerBoard(), stall_s=1.0, now=1000.0)
    assert view.status.stalled is None


async def test_the_websocket_status_message_shows_the_stall_and_its_end(tmp_path: Path) -> None:
    config = GatewaySettings(data_dir=tmp_path, dev_mode=True)
    board, workers = JobBoard(), WorkerBoard()
    app = Starlette(routes=relay.routes)
    app.state.gateway = GatewayState(config, board, GatewayKafka(KafkaSettings(), board, workers),
                                     MediaStore(tmp_path), workers)
    board.apply_status(_event(JobState.RUNNING, "chunker", 1.0, sentences=1, progress=0.0))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    statuses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        if message.get("text") and (body := orjson.loads(message["text"]))["type"] == "status":
            statuses.put_nowait(body["status"])
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    scope = {"type": "websocket", "path": "/api/v1/stream/job", "raw_path": b"",
             "query_string": b"", "headers": [], "scheme": "ws", "server": ("test", 80),
             "client": ("test", 1), "root_path": "", "subprotocols": [], "asgi": {"version": "3.0"}}
    client = asyncio.create_task(app(scope, inbox.get, send))
    first = await asyncio.wait_for(statuses.get(), 5)
    assert first["stalled"] is None
    mark_stalls(board, workers, stall_s=5.0)  # 1.0 is long ago, and no worker is live
    stalled = await asyncio.wait_for(statuses.get(), 5)
    assert stalled["state"] == "running" and stalled["stalled"]["stage"] == "tts"
    assert stalled["stalled"]["reason"] == "no live worker runs tts"
    board.apply_status(_event(JobState.RUNNING, "tts", 2.0, progress=1.0))
    resumed = await asyncio.wait_for(statuses.get(), 5)
    assert resumed["stalled"] is None and resumed["stage"] == "tts"
    board.apply_segment(SegmentMeta(job_id="job", kind="end", seq=0, total=0), b"")
    await asyncio.wait_for(client, 5)
