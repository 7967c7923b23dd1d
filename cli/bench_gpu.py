"""`avatar-stream bench-gpu`: what one accelerator sustains with Wav2Lip, measured twice.

1. The network alone: frames per second of the engine's forward pass (host arrays in,
   host arrays out, as the lip-sync stage calls it) at several batch sizes, in the
   precision the worker would pick (fp16 on CUDA; bf16 or fp32 on CPUs).
2. The real pipeline on the embedded broker, Wav2Lip in the lip-sync stage: 1, 2, 4, ...
   concurrent jobs, each watched by a WebSocket client, until a viewer stalls behind the
   2 s buffer. Per step: each stream's first segment and its worst lateness; the answer is
   the most streams served with no stall.

It runs wherever torch does, so it is tested on CPUs; on a GPU machine it gives the
figures for the README. Without `--checkpoint`, random weights are saved in the official
layout: speed does not depend on their values.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.lipsync.engine import Wav2LipEngine, precision_named
from models.lipsync.wav2lip import Wav2Lip, load_wav2lip, save_checkpoint

log = logging.getLogger(__name__)
# The worker warms the engine before it says it is ready; on a fresh install that includes
# compiling librosa's numba kernels (cached afterwards), which took over 2 minutes on 2 busy cores.
STACK_START_S = 420.0
BENCH_TEXT = ("One accelerator serves many viewers at once. Each of them should see every "
              "frame on time, while the others are served too.")


def device_info() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "machine": platform.machine(),
                            "cuda": torch.cuda.is_available(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def network_fps(checkpoint: Path, precision: str, batches: Sequence[int], seconds: float = 2.0) -> dict[str, float]:
    """Frames per second of one forward pass per batch size, each timed for about `seconds`
    after a warm-up pass (kernel choice, allocations)."""
    chosen = precision_named(precision)
    engine = Wav2LipEngine(load_wav2lip(checkpoint, chosen), chosen, max_batch=max(batches))
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for batch in batches:
        mels = rng.uniform(-4, 4, (batch, 80, 16)).astype(np.float32)
        faces = rng.integers(0, 255, (batch, 6, 96, 96), dtype=np.uint8)
        engine.forward(mels, faces)
        passes, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds or passes < 2:
            engine.forward(mels, faces)
            passes += 1
        out[str(batch)] = round(batch * passes / elapsed, 1)
    return out


async def _streams(url: str, counts: Sequence[int], text: str, data_dir: Path) -> list[dict[str, Any]]:
    from cli.loadtest import many_jobs
    from core.store import MediaStore

    steps = []
    for count in counts:
        started = time.perf_counter()
        phase = await many_jobs(url, count, text, MediaStore(data_dir))
        steps.append({"streams": count, "complete": phase["complete_streams"],
                      "stalled": phase["stalled_streams"], "ttfs_s": phase["ttfs_s"],
                      "lateness_s": phase["lateness_s"], "per_job": phase["per_job"],
                      "video_s_per_stream": phase["video_s_first_stream"],
                      "wall_s": round(time.perf_counter() - started, 3)})
        log.info("%d streams: %d stalled, first segment p50 %.2f s", count, phase["stalled_streams"],
                 phase["ttfs_s"]["p50"])
        if phase["stalled_streams"] or phase["complete_streams"] < count:
            break  # more would only stall more
    return steps


def bench_gpu(data_dir: Path, checkpoint: Path | None = None, precision: str = "auto",
              batches: Sequence[int] = (1, 4, 8, 16, 32), streams: Sequence[int] = (1, 2, 4, 8, 16),
              text: str = BENCH_TEXT) -> dict[str, Any]:
    from cli.stack import Stack

    with tempfile.TemporaryDirectory() as scratch:
        if checkpoint is None:
            torch.manual_seed(0)
            checkpoint = Path(scratch) / "wav2lip-random.pth"
            save_checkpoint(Wav2Lip(), checkpoint)
        chosen = precision_named(precision)
        report: dict[str, Any] = {
            "device": device_info(), "precision": f"{chosen.device} {str(chosen.dtype).removeprefix('torch.')}",
            "network_fps_by_batch": network_fps(checkpoint, precision, batches)}
        env = {"AVATAR_WAV2LIP_CHECKPOINT": str(checkpoint), "AVATAR_LIPSYNC_PRECISION": precision,
               "AVATAR_LIPSYNC_BATCH_FRAMES": str(max(batches)), "AVATAR_TTS_DETERMINISTIC": "1"}
        started = time.perf_counter()
        inherited = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}  # embedded
        stack = Stack(data_dir, env={**inherited, **env})
        try:
            stack.start(STACK_START_S)
            report["stack_start_s"] = round(time.perf_counter() - started, 3)  # the engine's warm-up included
            steps = asyncio.run(_streams(stack.url, streams, text, stack.data_dir))
        finally:
            stack.stop()
    served = [s["streams"] for s in steps if not s["stalled"] and s["complete"] == s["streams"]]
    report["pipeline"] = steps
    report["realtime_streams"] = max(served, default=0)
    report["first_segment_s"] = steps[0]["ttfs_s"]["max"] if steps else None
    return report

