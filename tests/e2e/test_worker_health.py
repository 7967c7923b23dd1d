"""Workers are seen: heartbeats on the workers topic, /health per stage, and a killed worker
shows there and in its job's status (`stalled`), until a new worker finishes the job.

The failover test runs a Stack of its own whose one worker the test SIGKILLs and later
starts again. The job is held in tts by the fake ElevenLabs API (429 with Retry-After), so
the worker dies with the job in hand, before any segment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from cli.client import watch
from cli.stack import Stack
from models.media.assemble import probe
from schemas.workers import HEARTBEAT_MISSES, STAGES, WorkerHeartbeat
from tests.e2e.gateway_util import job_status, poll, wait_for_video
from tests.fakes.elevenlabs_server import FakeElevenLabs

HEARTBEAT_S = 1.0
SCRIPT_STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler")


async def _health(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/health")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _heartbeats(bootstrap: str, topic: str) -> list[tuple[str, WorkerHeartbeat | None]]:
    """Every record on the workers topic so far, in order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[tuple[str, WorkerHeartbeat | None]] = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                out += [(r.key.decode(),
                         None if r.value is None else WorkerHeartbeat.from_json(r.value))
                        for r in records]
        return out
    finally:
        await consumer.stop()


def _ready(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


async def test_heartbeats_name_the_worker_and_health_lists_it_per_stage(stack: Stack) -> None:
    ready = _ready(stack.ready_file)
    assert ready is not None and ready["pid"] == stack.procs["worker"].pid
    worker_id = ready["worker_id"]
    assert ready["partitions"][stack.topics.requests] == [0, 1, 2, 3]

    async def listed() -> dict[str, Any] | None:
        health = await _health(stack.url)
        return health if any(w["worker_id"] == worker_id for w in health["workers"]) else None

    health = await poll(listed, 30)
    assert health["broker"] is True and health["degraded"] is False and health["status"] == "ok"
    assert list(health["stages"]) == list(STAGES)
    for stage in STAGES:
        assert worker_id in health["stages"][stage]["workers"], stage
    (mine,) = [w for w in health["workers"] if w["worker_id"] == worker_id]
    assert mine["pid"] == ready["pid"] and mine["stages"] == list(STAGES)
    assert 0 <= mine["age_s"] < HEARTBEAT_MISSES * 2.0  # the default AVATAR_HEARTBEAT_S

    assert stack.bootstrap is not None
    beats = [b for key, b in await _heartbeats(stack.bootstrap, stack.topics.workers)
             if key == worker_id]
    assert beats and all(b is not None and not b.gone for b in beats)
    last = beats[-1]
    assert last is not None and last.pid == ready["pid"] and last.interval_s == 2.0
    assert last.partitions[stack.topics.sentences] == [0, 1, 2, 3]
    assert set(last.lag) == set(STAGES) and all(n >= 0 for n in last.lag.values())
    ats = [b.at for b in beats if b is not None]
    assert ats == sorted(ats) and time.time() - ats[-1] < HEARTBEAT_MISSES * 2.0


def _env(elevenlabs: FakeElevenLabs) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(ELEVENLABS_API_KEY=elevenlabs.api_key, ELEVENLABS_BASE_URL=elevenlabs.url,
               AVATAR_TTS_DETERMINISTIC="1", AVATAR_HEARTBEAT_S=str(HEARTBEAT_S),
               AVATAR_STALL_S="3",
               AVATAR_EXPECTED_STAGES=",".join(SCRIPT_STAGES))
    return env


async def _new_worker(stack: Stack) -> dict[str, Any]:
    """A worker for the stack's stages, as `up` starts one; its ready file once assigned."""
    stack.spawn_worker()

    async def ready() -> dict[str, Any] | None:
        assert stack.procs["worker"].poll() is None, "the worker exited"
        return _ready(stack.ready_file)
    return await poll(ready, 120, every_s=0.2)


async def test_a_killed_worker_shows_in_health_and_its_job_stalls_until_a_new_one_finishes_it(
        tmp_path: Path, elevenlabs: FakeElevenLabs) -> None:
    stack = Stack(tmp_path / "data", env=_env(elevenlabs), stages=SCRIPT_STAGES)
    await asyncio.to_thread(stack.start)  # Stack.start runs an event loop of its own
    try:
        first = _ready(stack.ready_file)
        assert first is not None

        async def all_live() -> dict[str, Any] | None:
            health = await _health(stack.url)
            return health if not health["degraded"] else None
        health = await poll(all_live, 60)
        assert all(health["stages"][s]["workers"] == [first["worker_id"]] for s in SCRIPT_STAGES)

        elevenlabs.retry_after_s = "4"
        elevenlabs.faults.extend(["429", "429"])  # the first sentence waits in tts for about 8 s
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            response = await http.post("/api/v1/generate", json={
                "text": "A worker is stopped while it speaks. Another one finishes the job.",
                "voice_id": "elevenlabs:fake-rachel"})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        watcher = asyncio.create_task(watch(stack.url, job_id, started, timeout_s=240))

        async def in_hand() -> bool | None:
            workers = (await _health(stack.url))["workers"]
            return True if any(job_id in w["jobs"].get("tts", []) for w in workers) else None
        await poll(in_hand, 30)
        before = await job_status(stack.url, job_id)
        assert before is not None and before["state"] == "running" and before["segments"] is None
        assert stack.procs["worker"].pid == first["pid"]
        stack.procs["worker"].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()

        async def tts_dead() -> dict[str, Any] | None:
            health = await _health(stack.url)
            return health if "no live worker runs tts" in health["reasons"] else None
        health = await poll(tts_dead, 30)
        seen_after_s = time.monotonic() - killed_at
        assert seen_after_s <= HEARTBEAT_MISSES * HEARTBEAT_S + 2.0, seen_after_s
        assert health["status"] == "degraded" and health["broker"] is True
        assert health["stages"]["tts"] == {"v": 1, "workers": [], "lag": None}
        assert health["workers"] == []

        async def stalled() -> dict[str, Any] | None:
            """A stall seen while the worker still looked live names it: wait for the cause."""
            status = await job_status(stack.url, job_id)
            stall = None if status is None else status["stalled"]
            return status if stall is not None and "no live worker" in stall["reason"] else None
        status = await poll(stalled, 15)
        assert status["state"] == "running"
        assert status["stalled"]["stage"] == "tts"
        assert status["stalled"]["reason"] == "no live worker runs tts"
        assert status["stalled"]["since"] <= time.time() - 3

        second = await _new_worker(stack)
        assert second["pid"] != first["pid"] and second["worker_id"] != first["worker_id"]
        result = await asyncio.wait_for(watcher, 240)
        out = tmp_path / "final.mp4"
        await wait_for_video(stack.url, job_id, out, timeout_s=120)
        final = await job_status(stack.url, job_id)
        assert final is not None and final["state"] == "completed" and final["stalled"] is None
        assert probe(out).video_frames == round(sum(m.duration_s for m in result.media) * 25)
        stalls = [m["status"]["stalled"] for m in result.messages if m["type"] == "status"]
        assert any(s is not None and s["stage"] == "tts" for s in stalls), stalls
        assert stalls[-1] is None

        assert (await poll(all_live, 30))["stages"]["tts"]["workers"] == [second["worker_id"]]
        stack.procs["worker"].send_signal(signal.SIGTERM)
        assert stack.procs["worker"].wait(60) == 0
        assert stack.bootstrap is not None
        beats = [b for key, b in await _heartbeats(stack.bootstrap, stack.topics.workers)
                 if key == second["worker_id"]]
        assert beats[-1] is not None and beats[-1].gone  # a clean stop says so at once
        assert all(b is not None and not b.gone for b in beats[:-1])
    finally:
        await asyncio.to_thread(stack.stop)
