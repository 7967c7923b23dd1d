"""Workers that run different stages, as the compose GPU profile and the Kubernetes manifests
deploy them: lip sync alone in a consumer group of its own, every other stage in the main
group. A job goes through both and completes, with every segment at its client."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from cli.client import submit
from cli.faults import watch_timed
from cli.stack import Stack

MAIN_STAGES = ("chunker", "tts", "encoder", "assembler", "avatars", "webhooks")
TEXT = "Two groups of workers share this job. One speaks it, the other moves the lips."


async def test_a_job_crosses_workers_with_different_stages_in_groups_of_their_own(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(AVATAR_TTS_DETERMINISTIC="1", AVATAR_LOG_LEVEL="INFO")
    stack = Stack(tmp_path / "data", env=env, stages=MAIN_STAGES)
    await asyncio.to_thread(stack.start)  # Stack.start runs an event loop of its own
    try:
        ready = stack.ready_file_of("lipsync")
        stack.spawn("lipsync", ["worker", "--ready-file", str(ready)],
                    {"AVATAR_STAGES": "lipsync", "AVATAR_APP_ID": "avatar-stream-lipsync"})
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert stack.procs["lipsync"].poll() is None, "the lip-sync worker exited"
            assert time.monotonic() < deadline, "the lip-sync worker was not ready in 120 s"
            await asyncio.sleep(0.2)
        job_id = await submit(stack.url, TEXT)
        watched = await watch_timed(stack.url, job_id, 120)
        assert watched.end is not None and watched.end["type"] == "end", watched.end
        assert [m.seq for m in watched.media] == list(range(watched.end["segments"]))
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            while (state := (await http.get(f"/api/v1/status/{job_id}")).json()["state"]) == "running":
                assert time.monotonic() < deadline + 120, "the job was not assembled"
                await asyncio.sleep(0.2)
            assert state == "completed"
            health = (await http.get("/health")).json()
        assert health["status"] == "ok", health
    finally:
        await asyncio.to_thread(stack.stop)
