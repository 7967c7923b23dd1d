"""`avatar-stream up` starts everything and leaves no process behind on SIGTERM or SIGKILL."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.cli.proc_util import descendants, start_up, wait_gone


def test_up_serves_then_sigterm_stops_every_child(tmp_path: Path) -> None:
    proc, url = start_up(tmp_path / "data")
    assert httpx.get(f"{url}/health", timeout=5).json()["broker"] is True
    children = descendants(proc.pid)
    assert len(children) >= 3  # broker (java), worker, gateway
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert wait_gone(children) == set()


def test_killed_parent_takes_its_children_along(tmp_path: Path) -> None:
    proc, _url = start_up(tmp_path / "data")
    children = descendants(proc.pid)
    proc.kill()
    proc.wait(10)
    assert wait_gone(children) == set()
