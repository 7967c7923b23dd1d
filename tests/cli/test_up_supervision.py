"""`avatar-stream up` supervises its children: three quick worker deaths, or a dead gateway
or broker, end `up` with exit code 1 and the reason, leaving no child behind.

(A killed worker started again with its job completing on it is not in the suite yet:
takeover by a new worker is not yet reliable enough to test; see the README's guarantees.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import pytest

from tests.cli.proc_util import alive, child_running, descendants, start_up, up_env, wait_gone

T = TypeVar("T")


def _until(check: Callable[[], T | None], timeout_s: float, every_s: float = 0.1) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (result := check()) is not None:
            return result
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def _up(tmp_path: Path, log: IO[bytes], **env: str) -> tuple[subprocess.Popen[str], str, Path]:
    data = tmp_path / "data"
    proc, url = start_up(data, up_env(AVATAR_HEARTBEAT_S="1", **env), stderr=log)
    return proc, url, data


def _ends_with_one(proc: subprocess.Popen[str], children: set[int], log_path: Path) -> str:
    assert proc.wait(90) == 1
    assert wait_gone(children) == set()
    return log_path.read_text(errors="replace")


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
