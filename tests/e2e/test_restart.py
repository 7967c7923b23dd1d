"""The whole service restarted on the same data directory comes back to the same jobs.

This is `make demo` run twice: the broker keeps its logs, the worker recovers its
tables from their changelogs, the gateway rebuilds job state from the status topic.
With one live slot (AVATAR_MAX_LIVE_JOBS=1), a job that waits for it when the service
stops is held in a table too: after the restart it starts in its turn and completes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from cli.client import generate_and_watch, submit
from cli.stack import Stack
from models.media.assemble import probe
from tests.e2e.gateway_util import poll, wait_for_video

STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler")
LONG = ("This job takes the only live slot for a while. It has a few sentences to say. "
        "Each of them takes a moment to speak. The next job waits until this one is done.")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["AVATAR_TTS_DETERMINISTIC"] = "1"
    env["AVATAR_MAX_LIVE_JOBS"] = "1"
    return env


async def _one_waits(url: str, job_ids: list[str]) -> dict[str, dict[str, object]]:
    """Both jobs' status once one of them waits for the slot (the other has it)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        async def check() -> dict[str, dict[str, object]] | None:
            status = {j: (await http.get(f"/api/v1/status/{j}")).json() for j in job_ids}
            waiting = [s for s in status.values() if s.get("queue_position") is not None]
            return status if waiting else None
        return await poll(check, 60)


def test_second_start_on_the_same_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Stack(data, env=_env(), stages=STAGES) as first:
        before = asyncio.run(generate_and_watch(first.url, "First run. Two sentences here."))
        held = [asyncio.run(submit(first.url, LONG)), asyncio.run(submit(first.url, "The job in line."))]
        status = asyncio.run(_one_waits(first.url, held))
        waits = [s for s in status.values() if s.get("queue_position") is not None]
        assert len(waits) == 1 and waits[0]["state"] == "queued", status
        assert waits[0]["queue_position"] == 1 and float(waits[0]["estimated_start_s"]) >= 0  # type: ignore[arg-type]
        assert "waiting for a slot" in str(waits[0]["message"])
    with Stack(data, env=_env(), stages=STAGES) as second:
        status = httpx.get(f"{second.url}/api/v1/status/{before.job_id}", timeout=10).json()
        assert status["state"] == "completed"
        for job_id in held:  # the one that ran and the one that waited both finish
            asyncio.run(wait_for_video(second.url, job_id, tmp_path / f"{job_id}.mp4"))
        after = asyncio.run(generate_and_watch(second.url, "Second run, after a restart."))
        out = tmp_path / "after.mp4"
        asyncio.run(wait_for_video(second.url, after.job_id, out))
    assert probe(out).video_frames == round(sum(m.duration_s for m in after.media) * 25)
