"""A worker killed with SIGKILL mid-job: another worker in the group finishes the job.

Its partitions move to the survivor, which recovers the tts cursor from the table
changelog and rebuilds the encoder's state from the frames topic; the final MP4
has every frame once, with no gap.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import av
import httpx
import websockets

from models.assemble import probe
from schemas.ws import KIND_MEDIA, MediaMessage
from streamer.client import submit
from streamer.stack import Stack
from tests.e2e.gateway_util import wait_for_video

SCRIPT = " ".join(
    f"This is sentence number {n} of a script long enough to outlive the worker that started it."
    for n in range(1, 13))


async def _first_segments(url: str, job_id: str, count: int) -> None:
    ws_url = url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}"
    seen = 0
    async with websockets.connect(ws_url, max_size=None) as ws:
        while seen < count:
            message = await ws.recv()
            if isinstance(message, bytes) and MediaMessage.unpack(message).kind == KIND_MEDIA:
                seen += 1


def test_killed_worker_job_completes_on_another(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(AVATAR_TTS_DETERMINISTIC="1", AVATAR_COMMIT_INTERVAL_S="0.2")  # offsets committed before the kill
    with Stack(tmp_path / "data", env=env, stages=("chunker", "tts", "lipsync", "encoder", "assembler")) as stack:
        job_id = asyncio.run(submit(stack.url, SCRIPT))
        asyncio.run(asyncio.wait_for(_first_segments(stack.url, job_id, 6), 60))
        survivor_ready = stack.data_dir / "run" / "worker2.ready"
        stack.spawn("worker2", ["worker", "--ready-file", str(survivor_ready)])
        stack.procs["worker"].kill()  # SIGKILL: no goodbye to the group, nothing flushed
        out = tmp_path / "final.mp4"
        try:
            asyncio.run(wait_for_video(stack.url, job_id, out, timeout_s=90))
        except AssertionError:
            status = httpx.get(f"{stack.url}/api/v1/status/{job_id}", timeout=10).text
            raise AssertionError(f"job did not complete after the failover: {status}") from None
        survivor_log = (stack.data_dir / "logs" / "worker2.log").read_text()
    # The survivor took over mid-job: it rebuilt the encoder from the chunks already encoded.
    assert f"encoder state for {job_id} rebuilt up to chunk" in survivor_log
    info = probe(out)
    assert abs(info.video_duration_s - info.audio_duration_s) <= 1 / 25 + 1e-6
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        pts = [frame.pts for frame in container.decode(stream)]
    step = pts[1] - pts[0]
    assert pts == list(range(pts[0], pts[0] + step * len(pts), step)), "a gap or a repeat in the video"
    assert len(pts) == info.video_frames and info.video_duration_s > 20  # the whole script, not a part
