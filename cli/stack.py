"""Runs the whole service on one machine: broker (unless configured), worker, gateway.

Each part is a child process that gets SIGTERM when this process dies, and
`stop()` ends them in reverse order, so Ctrl-C or SIGTERM leaves no orphans.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from cli.embedded_kafka import EmbeddedKafka, _die_with_parent, free_port
from core.kafka_admin import ensure_topics
from core.settings import KafkaSettings
from core.store import MediaStore
from processors.avatars import ensure_sample_avatar
from processors.settings import ALL_STAGES
from schemas.topics import TopicNames

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A part of the stack did not start."""


class Stack:
    def __init__(self, data_dir: Path, port: int | None = None, bootstrap: str | None = None,
                 stages: tuple[str, ...] = ALL_STAGES, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.env = dict(os.environ if env is None else env)
        self.bootstrap = bootstrap or self.env.get("KAFKA_BOOTSTRAP_SERVERS")
        self.stages = stages
        self.broker: EmbeddedKafka | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def topics(self) -> TopicNames:
        return KafkaSettings.from_env(self.env).topics

    def _child_env(self) -> dict[str, str]:
        assert self.bootstrap is not None
        return {**self.env, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "AVATAR_DATA_DIR": str(self.data_dir)}

    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**self._child_env(), **(extra_env or {})},
                preexec_fn=_die_with_parent)  # noqa: PLW1509 - prctl only

    def start(self, timeout_s: float = 120.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.bootstrap is None:
            self.broker = EmbeddedKafka(self.data_dir / "kafka")
            self.bootstrap = self.broker.start()
        kafka = KafkaSettings.from_env(self._child_env())
        asyncio.run(ensure_topics(self.bootstrap, kafka.topics.specs(kafka.partitions)))
        ensure_sample_avatar(MediaStore(self.data_dir))
        ready = self.data_dir / "run" / "worker.ready"
        ready.unlink(missing_ok=True)
        self.spawn("worker", ["worker", "--ready-file", str(ready)], {"AVATAR_STAGES": ",".join(self.stages)})
        self.spawn("gateway", ["gateway", "--port", str(self.port)])
        self._wait(ready, timeout_s)
        return self.url

    def _wait(self, ready: Path, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        gateway_up = False
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.data_dir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise StackError(f"{name} exited with {proc.returncode}:\n{tail}")
            if not gateway_up:
                try:
                    gateway_up = httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
                except httpx.HTTPError:
                    pass
            if gateway_up and ready.exists():
                return
            time.sleep(0.1)
        raise StackError(f"the stack was not ready within {timeout_s:.0f}s; logs in {self.data_dir / 'logs'}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Idempotent; gateway first (stop taking work), then workers (any spawned), then the broker."""
        order = sorted(self.procs, key=lambda name: name != "gateway")
        for name in order:
            proc = self.procs.pop(name)
            if proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", name, timeout_s)
                proc.kill()
                proc.wait()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
