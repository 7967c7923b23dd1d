"""The gateway's /metrics through the whole app: the Prometheus text format, behind the keys,
with figures that follow the jobs, the workers and the WebSocket clients."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from schemas.pipeline import SegmentMeta
from schemas.status import JobState, StatusEvent
from schemas.workers import WorkerHeartbeat
from streamer.auth import key_hash
from streamer.state import GatewayState
from tests.streamer.app_util import offline_client

KEY = "k-metrics-0123456789"


def _samples(client: TestClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def _job(state: GatewayState, job_id: str, job_state: JobState, created_at: float | None = None) -> None:
    state.board.apply_status(StatusEvent(job_id=job_id, state=job_state, stage="assembler", at=time.time(),
                                         created_at=created_at))


def test_jobs_by_state_and_live_workers(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path)
    _job(state, "a", JobState.COMPLETED)
    _job(state, "b", JobState.COMPLETED)
    _job(state, "c", JobState.FAILED)
    now = time.time()
    state.workers.apply("w1", WorkerHeartbeat(worker_id="w1", host="h", pid=1, stages=["tts", "lipsync"],
                                              interval_s=2.0, at=now, started_at=now))
    samples = _samples(client)
    assert samples[("avatar_stream_jobs", (("state", "completed"),))] == 2
    assert samples[("avatar_stream_jobs", (("state", "failed"),))] == 1
    assert samples[("avatar_stream_jobs", (("state", "running"),))] == 0
    assert samples[("avatar_stream_workers", (("stage", "lipsync"),))] == 1
    assert ("avatar_stream_workers", (("stage", "encoder"),)) not in samples
    assert samples[("process_resident_memory_bytes", ())] > 0

    _job(state, "d", JobState.COMPLETED)
    assert _samples(client)[("avatar_stream_jobs", (("state", "completed"),))] == 3


def test_first_segment_time_is_observed_once_per_job(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path)
    _job(state, "j", JobState.RUNNING, created_at=time.time() - 1.2)
    for _ in range(2):  # a repeat of the first segment is not a second observation
        view = state.board.apply_segment(SegmentMeta(job_id="j", kind="media", seq=0, start_s=0.0,
                                                     duration_s=1.0), b"x")
        if view is not None:
            state.metrics.first_media(view)
    samples = _samples(client)
    assert samples[("avatar_stream_first_segment_seconds_count", ())] == 1
    assert 1.2 <= samples[("avatar_stream_first_segment_seconds_sum", ())] < 5
    assert samples[("avatar_stream_first_segment_seconds_bucket", (("le", "1.0"),))] == 0
    assert samples[("avatar_stream_first_segment_seconds_bucket", (("le", "1.5"),))] == 1


def test_websocket_clients_and_bytes_sent(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path)
    _job(state, "job", JobState.RUNNING)
    state.board.apply_segment(SegmentMeta(job_id="job", kind="init", seq=0, mime="video/mp4"), b"i" * 100)
    with client.websocket_connect("/api/v1/stream/job") as ws:
        assert ws.receive_json()["type"] == "status"
        assert ws.receive_json()["type"] == "init"
        assert len(ws.receive_bytes()) > 100
        during = _samples(client)
        assert during[("avatar_stream_websocket_clients", ())] == 1
        assert during[("avatar_stream_websocket_sent_bytes_total", ())] > 100
        state.board.apply_segment(SegmentMeta(job_id="job", kind="end", seq=0, total=0), b"")
        assert ws.receive_json()["type"] == "end"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
    after = _samples(client)
    assert after[("avatar_stream_websocket_clients", ())] == 0
    assert after[("avatar_stream_websocket_sent_bytes_total", ())] > during[
        ("avatar_stream_websocket_sent_bytes_total", ())]


def test_metrics_are_behind_the_admin_keys(tmp_path: Path) -> None:
    """Whole-cluster figures are for an admin key only: another key gets 403."""
    admin = "k-admin-0123456789"
    client, _ = offline_client(tmp_path, dev_mode=False, api_key_hashes=frozenset({key_hash(KEY), key_hash(admin)}),
                               admin_key_hashes=frozenset({key_hash(admin)}))
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.json()["error"]
    forbidden = client.get("/metrics", headers={"authorization": f"Bearer {KEY}"})
    assert forbidden.status_code == 403 and "admin key" in forbidden.json()["error"]
    assert ("avatar_stream_websocket_clients", ()) in _samples(client, authorization=f"Bearer {admin}")
