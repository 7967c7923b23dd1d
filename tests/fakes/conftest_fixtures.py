"""Fixtures that start the fake ElevenLabs server (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli.embedded_kafka import free_port
from tests.fakes.elevenlabs_server import FakeElevenLabs


@pytest.fixture(scope="session")
def fake_elevenlabs() -> Iterator[FakeElevenLabs]:
    """One server for the session: the stack's workers are pointed at it by env."""
    server = FakeElevenLabs().start(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def elevenlabs(fake_elevenlabs: FakeElevenLabs) -> Iterator[FakeElevenLabs]:
    """The session server with no faults left over from another test."""
    fake_elevenlabs.faults.clear()
    fake_elevenlabs.retry_after_s = "1"
    yield fake_elevenlabs
    fake_elevenlabs.faults.clear()
