"""Session fixtures: one real Kafka broker, worker and gateway for the pipeline tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import Stack
from tests.fakes.elevenlabs_server import FakeElevenLabs

pytest_plugins = ["tests.fakes.conftest_fixtures"]  # the fake ElevenLabs server's fixtures
WEBHOOK_SECRET = "test-webhook-secret"
WEBHOOK_ENV = {"AVATAR_WEBHOOK_SECRET": WEBHOOK_SECRET, "AVATAR_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
               "AVATAR_WEBHOOK_BACKOFF_S": "0.2", "AVATAR_WEBHOOK_BACKOFF_MAX_S": "0.5"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_elevenlabs: FakeElevenLabs) -> Iterator[Stack]:
    """The whole service as `avatar-stream up` runs it, on an embedded broker of its own."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(ELEVENLABS_API_KEY=fake_elevenlabs.api_key, ELEVENLABS_BASE_URL=fake_elevenlabs.url,
               ELEVENLABS_STALL_TIMEOUT_S="2")
    env.update(AVATAR_TTS_DETERMINISTIC="1", AVATAR_LOG_LEVEL="INFO")
    env.update(AVATAR_METRICS_PORT="0")  # any free port (in the ready file): never a taken one
    env.update(WEBHOOK_ENV)  # signed webhooks to a receiver on loopback, retried fast
    # many tests share this stack, and some hold a job in a stage on purpose: no admission
    # limit here (it has a stack of its own in tests/e2e/test_restart.py)
    env.update(AVATAR_MAX_LIVE_JOBS="0")
    data_dir: Path = tmp_path_factory.mktemp("stack")
    with Stack(data_dir, env=env) as running:
        yield running
