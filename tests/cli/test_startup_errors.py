"""A taken port or an unreachable broker stops a command before it starts anything, with
one line on stderr (`avatar-stream: error: ...` naming the address), no traceback, exit 2.

The real CLI runs as a process against real sockets on 127.0.0.1: a listening socket holds
a port, and a socket bound without listening makes a port that refuses connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Well past the broker check's 5 s; a command that did not check would hang here instead.
CLI_TIMEOUT_S = 20


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port that refuses connections; kept bound so nothing else can start listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(data_dir: Path, *args: str, bootstrap: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "AVATAR_HOST")}
    if bootstrap is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    return subprocess.run([sys.executable, "-m", "cli.main", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S, check=False)


def _the_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a command that failed as it should; asserts the rest."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("avatar-stream: error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert done.stdout == ""  # nothing that looks like a bootstrap address or a URL
    return errors[0]


@pytest.mark.parametrize("command", ["gateway", "up", "demo", "broker"])
def test_a_taken_port_is_one_line_and_exit_2(command: str, taken_port: int, refusing_port: int,
                                             tmp_path: Path) -> None:
    # With a dead broker configured, the port is the first thing found wrong (up and demo
    # would otherwise start a broker of their own).
    bootstrap = f"127.0.0.1:{refusing_port}" if command == "gateway" else None
    error = _the_error(_cli(tmp_path, command, "--port", str(taken_port), bootstrap=bootstrap))
    assert f"port {taken_port} on 127.0.0.1 is already in use" in error


@pytest.mark.parametrize("command", ["worker", "gateway", "up"])
def test_an_unreachable_broker_is_one_line_and_exit_2(command: str, refusing_port: int,
                                                      tmp_path: Path) -> None:
    args = ["--port", str(_free_port())] if command in ("gateway", "up") else []
    error = _the_error(_cli(tmp_path, command, *args, bootstrap=f"127.0.0.1:{refusing_port}"))
    assert f"cannot reach the Kafka broker at 127.0.0.1:{refusing_port}" in error
    assert "connection refused" in error


def test_a_port_out_of_range_is_refused_while_parsing(tmp_path: Path) -> None:
    done = _cli(tmp_path, "gateway", "--port", "70000", bootstrap=None)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "a port is 0 to 65535, not 70000" in done.stderr
