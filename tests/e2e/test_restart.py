"""The whole service restarted on the same data directory comes back to the same jobs.

This is `make demo` run twice: the broker keeps its logs, the worker recovers its
tables from their changelogs, the gateway rebuilds job state from the status topic.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from cli.client import generate_and_watch
from cli.stack import Stack
from models.media.assemble import probe
from tests.e2e.gateway_util import wait_for_video


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["AVATAR_TTS_DETERMINISTIC"] = "1"
    return env


def test_second_start_on_the_same_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Stack(data, env=_env(), stages=("chunker", "tts", "lipsync", "encoder", "assembler")) as first:
        before = asyncio.run(generate_and_watch(first.url, "First run. Two sentences here."))
    with Stack(data, env=_env(), stages=("chunker", "tts", "lipsync", "encoder", "assembler")) as second:
        status = httpx.get(f"{second.url}/api/v1/status/{before.job_id}", timeout=10).json()
        assert status["state"] == "completed"
        after = asyncio.run(generate_and_watch(second.url, "Second run, after a restart."))
        out = tmp_path / "after.mp4"
        asyncio.run(wait_for_video(second.url, after.job_id, out))
    assert probe(out).video_frames == round(sum(m.duration_s for m in after.media) * 25)
