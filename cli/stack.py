"""Runs the whole service on one machine: broker (unless configured), worker, gateway.

Each part is a child process that gets SIGTERM when this process dies, and
`stop()` ends them in reverse order, so Ctrl-C or SIGTERM leaves no orphans.
`supervise()` (what `up` runs) starts a worker that died again, and gives up with
the reason when workers keep dying or the gateway or the broker dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from cli.children import spawn_tied
from cli.embedded_kafka import EmbeddedKafka, free_port
from core.kafka_admin import ensure_topics
from core.settings import KafkaSettings
from core.store import MediaStore
from processors.avatars import ensure_sample_avatar
from processors.settings import ALL_STAGES
from schemas.topics import TopicNames

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A part of the stack did not start, or died for good."""


@dataclass(frozen=True)
class RestartPolicy:
    """A worker that exits is started again, unless this many exits fall within the window."""

    max_crashes: int = 3
    window_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RestartPolicy:
        return cls(max_crashes=int(env.get("AVATAR_RESTART_MAX", cls.max_crashes)),
                   window_s=float(env.get("AVATAR_RESTART_WINDOW_S", cls.window_s)))


def exit_text(code: int) -> str:
    """`-9 (SIGKILL)` for a signal, the code itself otherwise."""
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            return str(code)
    return str(code)


BROKERLESS_STOP_S = 3.0


def _broker_exit(broker: EmbeddedKafka) -> int | None:
    """The embedded broker's exit code once its process has ended, else None."""
    return broker.returncode


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
        self.restart = RestartPolicy.from_env(self.env)

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
            self.procs[name] = spawn_tied(
                [sys.executable, "-m", "cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**self._child_env(), **(extra_env or {})})

    def start(self, timeout_s: float = 120.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.bootstrap is None:
            self.broker = EmbeddedKafka(self.data_dir / "kafka")
            self.bootstrap = self.broker.start()
        kafka = KafkaSettings.from_env(self._child_env())
        asyncio.run(ensure_topics(self.bootstrap, kafka.topics.specs(kafka.partitions)))
        ensure_sample_avatar(MediaStore(self.data_dir))
        self.spawn_worker()
        self.spawn("gateway", ["gateway", "--port", str(self.port)])
        self._wait(self.ready_file, timeout_s)
        return self.url

    @property
    def ready_file(self) -> Path:
        """The worker's assignment as JSON ({"pid", "worker_id", "partitions",
        "metrics_port"}), written once its partitions are assigned and again after every
        rebalance."""
        return self.ready_file_of("worker")

    def ready_file_of(self, name: str) -> Path:
        return self.data_dir / "run" / f"{name}.ready"

    def spawn_worker(self, name: str = "worker") -> Path:
        """A worker process for the stack's stages (`up` runs one, named "worker"); returns
        its ready file, removed first so that its appearance means this process is ready.
        Only "worker" serves its metrics on the configured port; any other gets a free port
        (in its ready file), so that two workers on one host do not contend for it."""
        ready = self.ready_file_of(name)
        ready.unlink(missing_ok=True)
        extra = {"AVATAR_STAGES": ",".join(self.stages)}
        if name != "worker" and "AVATAR_METRICS_PORT" not in self.env:
            extra["AVATAR_METRICS_PORT"] = "0"
        self.spawn(name, ["worker", "--ready-file", str(ready)], extra)
        return ready

    def supervise(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Until `stop` is set: a worker that exits is started again, with a log line naming
        its exit code. Raises StackError when the gateway or the broker exits, or when the
        worker exits `restart.max_crashes` times within `restart.window_s`."""
        exits: deque[float] = deque()
        while not stop.wait(poll_s):
            if self.broker is not None and (code := _broker_exit(self.broker)) is not None:
                raise StackError(f"the broker exited with {exit_text(code)}; "
                                 f"its log is {self.broker.log_file}")
            for name, proc in list(self.procs.items()):
                if (code := proc.poll()) is None:
                    continue
                log_file = self.data_dir / "logs" / f"{name}.log"
                if name != "worker":
                    raise StackError(f"the {name} exited with {exit_text(code)}; "
                                     f"its log is {log_file}")
                now = time.monotonic()
                exits.append(now)
                while exits and exits[0] < now - self.restart.window_s:
                    exits.popleft()
                if len(exits) >= self.restart.max_crashes:
                    raise StackError(f"the worker exited {len(exits)} times within "
                                     f"{self.restart.window_s:g} s, the last time with "
                                     f"{exit_text(code)}; giving up (its log is {log_file})")
                log.warning("the worker (pid %d) exited with %s; starting it again (exit %d within "
                            "%g s; %d stop the stack)", proc.pid, exit_text(code), len(exits),
                            self.restart.window_s, self.restart.max_crashes)
                self.spawn_worker()

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
        """Idempotent; gateway first (stop taking work), then workers (any spawned), then the
        broker. With the embedded broker gone there is nothing to commit or hand over, and a
        graceful stop only waits on it: each process then gets BROKERLESS_STOP_S."""
        if self.broker is not None and _broker_exit(self.broker) is not None:
            timeout_s = min(timeout_s, BROKERLESS_STOP_S)
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
