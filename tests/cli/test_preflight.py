"""The start-up checks on real sockets: binding finds a taken port, connecting finds a broker
(or its absence, named), and a broker that starts listening within the wait is accepted."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cli.errors import UsageError
from cli.preflight import broker_addresses, ensure_broker_reachable, ensure_port_free


@pytest.fixture
def bound() -> Iterator[socket.socket]:
    """A socket bound to a loopback port, not yet listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def test_a_listening_port_is_taken_and_a_free_one_is_not(bound: socket.socket) -> None:
    bound.listen()
    with pytest.raises(UsageError, match=f"port {_port(bound)} on 127.0.0.1 is already in use"):
        ensure_port_free("127.0.0.1", _port(bound))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = _port(probe)
    ensure_port_free("127.0.0.1", free)
    ensure_port_free("127.0.0.1", 0)  # "any free port" is never taken


def test_a_listening_broker_passes(bound: socket.socket) -> None:
    bound.listen()
    ensure_broker_reachable(f"127.0.0.1:1,127.0.0.1:{_port(bound)}", wait_s=2)  # one is enough


def test_a_refusing_broker_is_named_after_the_wait(bound: socket.socket) -> None:
    started = time.monotonic()
    with pytest.raises(UsageError, match=rf"127\.0\.0\.1:{_port(bound)} .*connection refused"):
        ensure_broker_reachable(f"127.0.0.1:{_port(bound)}", wait_s=1)
    assert 0.7 <= time.monotonic() - started < 3


def test_a_broker_that_starts_listening_within_the_wait_passes(bound: socket.socket) -> None:
    late = threading.Timer(0.5, bound.listen)  # refused at first, accepted once it listens
    late.start()
    try:
        ensure_broker_reachable(f"127.0.0.1:{_port(bound)}", wait_s=5)
    finally:
        late.join()


@pytest.mark.parametrize(("bootstrap", "expected"), [
    ("kafka:9092", [("kafka", 9092)]),
    ("a:1, b:2,", [("a", 1), ("b", 2)]),
    ("kafka", [("kafka", 9092)]),
    ("[::1]:9093", [("::1", 9093)]),
    ("::1", [("::1", 9092)]),
])
def test_bootstrap_addresses(bootstrap: str, expected: list[tuple[str, int]]) -> None:
    assert broker_addresses(bootstrap) == expected


@pytest.mark.parametrize("bootstrap", ["", " , ", "kafka:x", "kafka:0", "kafka:70000"])
def test_bad_bootstrap_addresses_are_refused(bootstrap: str) -> None:
    with pytest.raises(UsageError, match="KAFKA_BOOTSTRAP_SERVERS"):
        broker_addresses(bootstrap)
