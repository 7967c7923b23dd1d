"""`avatar-stream up` supervises its children: a killed worker is started again and its job
still completes; three quick worker deaths, or a dead gateway or broker, end `up` with exit
code 1 and the reason, leaving no child behind.

The job is held in tts by the fake ElevenLabs API (429 with Retry-After) so the worker
dies with the job in hand, before any segment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from tests.cli.proc_util import alive, child_running, descendants, start_up, up_env, wait_gone
from tests.fakes.elevenlabs_server import FakeElevenLabs

T = TypeVar("T")


def _until(check: Callable[[], T | None], timeout_s: float, every_s: float = 0.1) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (result := check()) is not None:
            return result
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def _ready(data_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((data_dir / "run" / "worker.ready").read_text()))
    except (OSError, ValueError):
        return None


def _up(tmp_path: Path, log: IO[bytes], **env: str) -> tuple[subprocess.Popen[str], str, Path]:
    data = tmp_path / "data"
    proc, url = start_up(data, up_env(AVATAR_HEARTBEAT_S="1", **env), stderr=log)
    return proc, url, data


def _ends_with_one(proc: subprocess.Popen[str], children: set[int], log_path: Path) -> str:
    assert proc.wait(90) == 1
    assert wait_gone(children) == set()
    return log_path.read_text(errors="replace")


def test_a_killed_worker_is_started_again_and_the_job_completes(
        tmp_path: Path, elevenlabs: FakeElevenLabs) -> None:
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc, url, data = _up(tmp_path, log, ELEVENLABS_API_KEY=elevenlabs.api_key,
                              ELEVENLABS_BASE_URL=elevenlabs.url, AVATAR_TTS_DETERMINISTIC="1")
        try:
            first = _ready(data)
            assert first is not None and first["pid"] == child_running(proc.pid, "worker")
            elevenlabs.retry_after_s = "4"
            elevenlabs.faults.extend(["429", "429"])  # the first sentence waits in tts ~8 s
            response = httpx.post(f"{url}/api/v1/generate", timeout=30, json={
                "text": "The worker dies while it speaks. Up starts it again.",
                "voice_id": "elevenlabs:fake-rachel"})
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]

            def in_hand() -> bool | None:
                workers = httpx.get(f"{url}/health", timeout=10).json()["workers"]
                return True if any(job_id in w["jobs"].get("tts", []) for w in workers) else None
            _until(in_hand, 30)
            status = httpx.get(f"{url}/api/v1/status/{job_id}", timeout=10).json()
            assert status["state"] == "running" and status["segments"] is None
            os.kill(first["pid"], signal.SIGKILL)

            def restarted() -> dict[str, Any] | None:
                ready = _ready(data)
                return ready if ready is not None and ready["pid"] != first["pid"] else None
            second = _until(restarted, 120, every_s=0.2)
            assert second["pid"] == child_running(proc.pid, "worker")

            def done() -> dict[str, Any] | None:
                status = httpx.get(f"{url}/api/v1/status/{job_id}", timeout=10).json()
                assert status["state"] != "failed", status
                return status if status["state"] == "completed" else None
            final = _until(done, 180, every_s=0.5)
            assert final["stalled"] is None and final["segments"] and final["segments"] > 0
            assert httpx.get(f"{url}/api/v1/video/{job_id}", timeout=30).status_code == 200
            assert proc.poll() is None
            children = descendants(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert wait_gone(children) == set()
    text = log_path.read_text(errors="replace")
    assert (f"the worker (pid {first['pid']}) exited with -9 (SIGKILL); starting it again "
            "(exit 1 within 60 s; 3 stop the stack)") in text


def test_three_quick_worker_deaths_end_up_with_the_reason(tmp_path: Path) -> None:
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc, _url, _data = _up(tmp_path, log)
        children = descendants(proc.pid)
        killed: set[int] = set()
        for _ in range(3):
            def new_worker() -> int | None:
                pid = child_running(proc.pid, "worker")
                return pid if pid is not None and pid not in killed else None
            pid = _until(new_worker, 30, every_s=0.05)
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
        text = _ends_with_one(proc, children | killed, log_path)
    assert ("the worker exited 3 times within 60 s, the last time with -9 (SIGKILL); giving up"
            in text)
    assert text.count("starting it again") == 2


@pytest.mark.parametrize(("part", "word"), [("gateway", "gateway"), ("broker", "kafka.Kafka")])
def test_a_dead_gateway_or_broker_ends_up_with_the_reason(tmp_path: Path, part: str,
                                                          word: str) -> None:
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc, _url, _data = _up(tmp_path, log)
        children = descendants(proc.pid)
        pid = child_running(proc.pid, word)
        assert pid is not None and alive(pid)
        os.kill(pid, signal.SIGKILL)
        text = _ends_with_one(proc, children, log_path)
    assert f"up stops: the {part} exited with -9 (SIGKILL); its log is " in text
