"""`avatar-stream up` starts everything and leaves no process behind on SIGTERM or SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _descendants(pid: int) -> set[int]:
    """Every process below pid, read from /proc (children files list direct children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _start_up(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--data-dir", str(data_dir), "up"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url


def _wait_gone(pids: set[int], timeout_s: float = 40) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


def test_up_serves_then_sigterm_stops_every_child(tmp_path: Path) -> None:
    proc, url = _start_up(tmp_path / "data")
    assert httpx.get(f"{url}/health", timeout=5).json()["broker"] is True
    children = _descendants(proc.pid)
    assert len(children) >= 3  # broker (java), worker, gateway
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert _wait_gone(children) == set()


def test_killed_parent_takes_its_children_along(tmp_path: Path) -> None:
    proc, _url = _start_up(tmp_path / "data")
    children = _descendants(proc.pid)
    proc.kill()
    proc.wait(10)
    assert _wait_gone(children) == set()
