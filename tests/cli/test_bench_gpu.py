"""`avatar-stream bench-gpu` on this machine's CPUs: the network's frames per second per batch
size, and real streams through the pipeline with Wav2Lip until one stalls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processors.test_lipsync import checkpoint  # noqa: F401 - the random-weights fixture


@pytest.mark.timeout(900)  # a fresh venv's first warm-up compiles librosa's kernels (see STACK_START_S)
def test_bench_gpu_runs_on_cpus(tmp_path: Path, checkpoint: Path) -> None:  # noqa: F811
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "--data-dir", str(tmp_path / "data"), "bench-gpu",
         "--checkpoint", str(checkpoint), "--precision", "fp32", "--batches", "1,4", "--streams", "1",
         "--text", "A short line. It is spoken."],
        capture_output=True, text=True, timeout=840, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["device"]["cuda"] is False and report["precision"] == "cpu float32"
    fps = report["network_fps_by_batch"]
    assert set(fps) == {"1", "4"} and all(v > 0 for v in fps.values())
    [step] = report["pipeline"]
    assert step["streams"] == 1 and step["complete"] == 1
    assert 0 < step["ttfs_s"]["max"] == report["first_segment_s"]
    assert report["realtime_streams"] == (1 if step["stalled"] == 0 else 0)
    assert step["video_s_per_stream"] > 1.0
