"""Checks a command runs before it starts anything: is its port free, is the broker there.

Without them a taken port or an absent broker shows up late, as a traceback from deep in
uvicorn, aiokafka or the JVM (or a server that exits 3 saying only "startup failed").
Each check fails with a UsageError that names the address, which `main()` prints as one
line with exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import socket
import time

from cli.errors import UsageError

BROKER_ENV = "KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_KAFKA_PORT = 9092  # what Kafka clients assume for a server given without a port
BROKER_WAIT_S = 5.0  # a broker that is just starting gets this long to accept connections
_RETRY_S = 0.25


def port_arg(text: str) -> int:
    """argparse type for --port: 0 (any free port) to 65535; anything else is refused
    while parsing rather than by an OverflowError from bind()."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


def ensure_port_free(host: str, port: int) -> None:
    """Binds host:port and lets it go again; a UsageError if that fails. Port 0 (any free
    port) always passes. SO_REUSEADDR, as uvicorn and Kafka set it, so a port held only by
    closed connections in TIME_WAIT counts as free, as it does for the server itself."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses it
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use; "
                                 "stop what holds it or choose another --port") from None
            raise UsageError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None


def broker_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """KAFKA_BOOTSTRAP_SERVERS ("host:port,host:port", "[::1]:9092") as (host, port) pairs."""
    addresses = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port_text = item.rpartition(":")
        # no ":" at all, or the last ":" is inside an IPv6 address ("::1", "[::1]")
        if not sep or host.endswith(":") or (":" in host and not host.startswith("[")):
            host, port_text = item, str(DEFAULT_KAFKA_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
            raise UsageError(f"{BROKER_ENV}: {item!r} is not host:port")
        addresses.append((host.strip("[]"), int(port_text)))
    if not addresses:
        raise UsageError(f"{BROKER_ENV} is empty; set it to the broker's host:port")
    return addresses


def ensure_broker_reachable(bootstrap: str, wait_s: float = BROKER_WAIT_S) -> None:
    """Returns once a TCP connection to one of the bootstrap servers succeeds (any one is
    enough, as for a Kafka client); a UsageError naming them after `wait_s` without one."""
    addresses = broker_addresses(bootstrap)
    deadline = time.monotonic() + wait_s
    while True:
        reason = ""
        for host, port in addresses:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                socket.create_connection((host, port), timeout=min(remaining, 2.0)).close()
                return
            except OSError as exc:
                reason = _reason(exc)
        if time.monotonic() + _RETRY_S >= deadline:
            raise UsageError(f"cannot reach the Kafka broker at {bootstrap} ({BROKER_ENV}): "
                             f"{reason} (tried for {wait_s:g} s); is it running?")
        time.sleep(_RETRY_S)


def _reason(exc: OSError) -> str:
    """The OS's words for it (connection refused, timed out, ...), for a one-line message."""
    return (exc.strerror or str(exc) or type(exc).__name__).lower()
