"""The pipeline end to end on the real broker: HTTP in, WebSocket out, MP4 downloaded."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import av
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cli.client import download, generate_and_watch
from cli.stack import Stack
from core.store import MediaStore
from models.avatars.avatar import load_avatar
from models.avatars.sample import SAMPLE_AVATAR_ID
from models.lipsync.animator import MouthAnimator
from models.media.assemble import probe
from schemas.pipeline import DeadLetterMeta
from schemas.requests import ScriptRequest
from tests.e2e.gateway_util import final_status, wait_for_video

TEXT = "Hello there. This is a short test of the talking avatar, speaking two sentences."
FRAME_S = 1 / 25


def _decode_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


async def test_http_to_websocket_to_mp4(stack: Stack, tmp_path: Path) -> None:
    result = await generate_and_watch(stack.url, TEXT)
    assert result.init.startswith(b"\x00\x00") and b"ftyp" in result.init[:8]
    seqs = [m.seq for m in result.media]
    assert seqs == list(range(len(seqs))) and len(seqs) >= 3
    assert result.messages[-1]["type"] == "end" and result.messages[-1]["segments"] == len(seqs)
    streamed_s = sum(m.duration_s for m in result.media)

    out = tmp_path / "job.mp4"
    await wait_for_video(stack.url, result.job_id, out)
    info = probe(out)
    assert abs(info.video_duration_s - info.audio_duration_s) <= FRAME_S + 1e-6
    assert abs(info.video_duration_s - streamed_s) <= FRAME_S + 1e-6
    frames = _decode_rgb(out)
    assert len(frames) == round(streamed_s * 25) == info.video_frames

    # What the WebSocket delivered decodes to the same frames as the downloaded file.
    streamed = tmp_path / "streamed.mp4"
    streamed.write_bytes(result.init + b"".join(m.data for m in result.media))
    assert len(_decode_rgb(streamed)) == len(frames)

    avatar = load_avatar(MediaStore(stack.data_dir).avatar_dir(SAMPLE_AVATAR_ID))
    x0, y0, x1, y1 = MouthAnimator(avatar).patch_box
    still = avatar.frames[0].astype(np.int16)
    mouth_diff = np.abs(frames[:, y0:y1, x0:x1].astype(np.int16) - still[y0:y1, x0:x1]).mean(axis=(1, 2, 3))
    outside = frames.astype(np.int16).copy()
    outside[:, y0:y1, x0:x1] = still[y0:y1, x0:x1]
    # The mouth moves while speaking and rests between words; the rest of the face only carries codec noise.
    assert (mouth_diff > 8).mean() > 0.3, mouth_diff
    assert (mouth_diff < 4).mean() > 0.05, mouth_diff
    assert np.abs(outside - still).mean() < 3.0


async def test_http_rejects_bad_input(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for body in ({"text": ""}, {"text": "   \n\t "}, {}):
            response = await http.post("/api/v1/generate", json=body)
            assert response.status_code == 422, response.text
            assert response.json()["error"] == "invalid request"
        response = await http.post("/api/v1/generate", json={"text": "Hi.", "avatar_id": "nobody"})
        assert response.status_code == 404 and "nobody" in response.json()["error"]
        response = await http.post("/api/v1/generate", content=b"{nope",
                                   headers={"content-type": "application/json"})
        assert response.status_code == 400
        response = await http.get("/api/v1/status/not-a-job")
        assert response.status_code == 404
        response = await http.get("/api/v1/video/../../etc/passwd")
        assert response.status_code == 404
        health = await http.get("/health")
        assert health.status_code == 200 and health.json()["broker"] is True


async def test_kafka_producer_request_and_dead_letter(stack: Stack, tmp_path: Path) -> None:
    """A plain aiokafka producer is a client too; unreadable records become dead letters."""
    topics = stack.topics
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        bad = b'{"job_id": "x", "text": ' + uuid.uuid4().hex.encode()
        await producer.send_and_wait(topics.requests, bad, key=b"x")
        job_id = f"kafka-{uuid.uuid4().hex[:12]}"
        request = ScriptRequest(job_id=job_id, text="Written straight to Kafka.")
        await producer.send_and_wait(topics.requests, request.to_json(), key=job_id.encode())
    finally:
        await producer.stop()

    out = tmp_path / "kafka.mp4"
    await wait_for_video(stack.url, job_id, out)
    assert probe(out).video_frames > 10

    consumer = AIOKafkaConsumer(topics.deadletter, bootstrap_servers=stack.bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                found = next((r for r in records if r.value == bad), found)
    finally:
        await consumer.stop()
    assert found is not None, "no dead letter for the malformed request"
    meta = DeadLetterMeta.from_headers(found.headers)
    assert meta.source_topic == topics.requests and meta.stage == "chunker"
    assert "JSONDecodeError" in meta.reason or "json" in meta.reason.lower()


async def test_unknown_avatar_via_kafka_fails_with_cause(stack: Stack) -> None:
    job_id = f"bad-avatar-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        request = ScriptRequest(job_id=job_id, text="Nobody is here.", avatar_id="ghost")
        await producer.send_and_wait(stack.topics.requests, request.to_json(), key=job_id.encode())
    finally:
        await producer.stop()
    status = await final_status(stack.url, job_id, timeout_s=60)
    assert status["state"] == "failed" and "ghost" in str(status["error"])


async def test_final_video_supports_range_requests(stack: Stack, tmp_path: Path) -> None:
    result = await generate_and_watch(stack.url, "Range requests work.")
    out = tmp_path / "range.mp4"
    await wait_for_video(stack.url, result.job_id, out)
    whole = out.read_bytes()
    async with httpx.AsyncClient(base_url=stack.url) as http:
        part = await http.get(f"/api/v1/video/{result.job_id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert await download(stack.url, result.job_id, tmp_path / "again.mp4") == len(whole)
