"""Stack.supervise on stand-in children: a worker that exits is started again, repeated exits
and a dead gateway end it with the reason; Ctrl-C's event ends it quietly."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.stack import RestartPolicy, Stack, StackError, exit_text

FOREVER = "import time; time.sleep(600)"


class FakeStack(Stack):
    """The worker is `python -c <code>`, one entry of `codes` per start (the last repeats)."""

    def __init__(self, data_dir: Path, codes: list[str], env: dict[str, str]) -> None:
        super().__init__(data_dir, bootstrap="127.0.0.1:9", env=env)
        self.codes = codes
        self.starts = 0

    def spawn_worker(self) -> None:
        code = self.codes[min(self.starts, len(self.codes) - 1)]
        self.procs["worker"] = subprocess.Popen([sys.executable, "-c", code])
        self.starts += 1


def _stack(tmp_path: Path, codes: list[str], **env: str) -> FakeStack:
    stack = FakeStack(tmp_path, codes, env)
    stack.spawn_worker()
    stack.procs["gateway"] = subprocess.Popen([sys.executable, "-c", FOREVER])
    return stack


def _supervise_in_thread(
        stack: Stack) -> tuple[threading.Event, threading.Thread, list[StackError]]:
    stop, errors = threading.Event(), []

    def run() -> None:
        try:
            stack.supervise(stop, poll_s=0.05)
        except StackError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return stop, thread, errors


def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_exit_text_and_policy_from_env() -> None:
    assert exit_text(-9) == "-9 (SIGKILL)" and exit_text(3) == "3"
    assert RestartPolicy.from_env({}) == RestartPolicy(3, 60.0)
    assert RestartPolicy.from_env({"AVATAR_RESTART_MAX": "5", "AVATAR_RESTART_WINDOW_S": "9"}) == \
        RestartPolicy(5, 9.0)


def test_a_worker_that_exits_is_started_again_with_its_exit_code_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stack = _stack(tmp_path, ["import sys; sys.exit(3)", FOREVER])
    caplog.set_level(logging.WARNING, logger="cli.stack")
    stop, thread, errors = _supervise_in_thread(stack)
    try:
        assert _until(lambda: stack.starts == 2)
        assert stack.procs["worker"].poll() is None
        assert ("exited with 3; starting it again (exit 1 within 60 s; 3 stop the stack)"
                in caplog.text)
    finally:
        stop.set()
        thread.join(10)
        stack.stop()
    assert errors == [] and not thread.is_alive()


def test_three_exits_within_the_window_end_supervision(tmp_path: Path) -> None:
    stack = _stack(tmp_path, ["import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    _stop, thread, errors = _supervise_in_thread(stack)
    thread.join(30)
    stack.stop()
    assert not thread.is_alive() and stack.starts == 3
    assert len(errors) == 1
    assert ("the worker exited 3 times within 60 s, the last time with -9 (SIGKILL)"
            in str(errors[0]))


def test_exits_spread_wider_than_the_window_are_forgiven(tmp_path: Path) -> None:
    stack = _stack(tmp_path, ["import time, sys; time.sleep(0.3); sys.exit(1)"],
                   AVATAR_RESTART_MAX="2", AVATAR_RESTART_WINDOW_S="0.2")
    stop, thread, errors = _supervise_in_thread(stack)
    try:
        assert _until(lambda: stack.starts >= 4) and errors == []
    finally:
        stop.set()
        thread.join(10)
        stack.stop()


def test_a_dead_gateway_ends_supervision_with_the_reason(tmp_path: Path) -> None:
    stack = _stack(tmp_path, [FOREVER])
    _stop, thread, errors = _supervise_in_thread(stack)
    stack.procs["gateway"].send_signal(signal.SIGTERM)
    thread.join(30)
    stack.stop()
    assert not thread.is_alive() and len(errors) == 1
    assert str(errors[0]).startswith("the gateway exited with -15 (SIGTERM); its log is ")
