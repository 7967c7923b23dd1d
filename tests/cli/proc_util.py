"""Helpers for the tests of `avatar-stream up` as a process: start it, find its children."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO


def descendants(pid: int) -> set[int]:
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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(map(int, (task / "children").read_text().split()))
        except OSError:
            continue
    return found


def child_running(parent: int, word: str) -> int | None:
    """The pid of a live direct child of `parent` with `word` among its arguments
    (`worker`, `gateway`, or `kafka.Kafka` for the broker)."""
    found = [pid for pid in sorted(children(parent)) if word in command_line(pid) and alive(pid)]
    return found[0] if found else None


def wait_gone(pids: set[int], timeout_s: float = 40) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if alive(p)}


def up_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return {**env, **extra}


def start_up(data_dir: Path, env: dict[str, str] | None = None,
             stderr: IO[bytes] | int = subprocess.DEVNULL) -> tuple[subprocess.Popen[str], str]:
    """`avatar-stream up` as a child; returns it and the URL it printed once ready."""
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--data-dir", str(data_dir), "up"],
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env=up_env() if env is None else env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url
