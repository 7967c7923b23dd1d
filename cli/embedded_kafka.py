"""A real single-node Apache Kafka (KRaft) for the embedded default and the tests.

Maven resolves the broker's jars from `deploy/kafka/pom.xml` into a cache once;
after that a start is a `java` process with log dirs on disk and its own log file.
The child is killed if this process dies (cli/children.py), so no orphan
broker outlives a killed parent.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from cli.children import spawn_tied
from schemas.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"
_READY_LINE = "Kafka Server started"
_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


class BrokerError(RuntimeError):
    """The embedded broker could not be installed or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "avatar-stream" / "kafka-jars"


def ensure_jars(cache_dir: Path, pom: Path = POM) -> Path:
    """Resolve the broker's jars with Maven once; later calls reuse the cache."""
    marker = cache_dir / ".complete"
    if marker.exists() and marker.read_text() == pom.read_text():
        return cache_dir
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka broker; install it or set KAFKA_BOOTSTRAP_SERVERS")
    tmp = cache_dir.with_name(cache_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("resolving Kafka broker jars with Maven into %s", cache_dir)
    cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"mvn failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    tmp.rename(cache_dir)
    marker.write_text(pom.read_text())
    return cache_dir


class EmbeddedKafka:
    """One broker+controller process; `start()` returns the bootstrap address."""

    def __init__(self, data_dir: Path, jars_dir: Path | None = None, port: int | None = None,
                 heap_mb: int = 512) -> None:
        self.data_dir = data_dir
        self.jars_dir = jars_dir or default_cache_dir()
        self.port = port
        self.heap_mb = heap_mb
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _properties(self, controller_port: int) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data_dir / 'logs'}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            f"message.max.bytes={MAX_RECORD_BYTES}",
            f"replica.fetch.max.bytes={MAX_RECORD_BYTES}",
            "log.cleaner.backoff.ms=1000",
            # A restarted single node re-registers at once instead of waiting out its old session.
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=500",
        ]) + "\n"

    def _state(self) -> tuple[str, int, int]:
        """Cluster id and ports persist beside the logs so a restart finds its data."""
        state = self.data_dir / "cluster.txt"
        if state.exists():
            cluster_id, port, cport = state.read_text().split()
            if self.port is None or self.port == int(port):
                return cluster_id, int(port), int(cport)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        shutil.rmtree(self.data_dir / "logs", ignore_errors=True)
        port, cport = self.port or free_port(), free_port()
        state.write_text(f"{cluster_id} {port} {cport}\n")
        return cluster_id, port, cport

    def start(self, timeout_s: float = 90.0) -> str:
        if self._proc is not None:
            return self.bootstrap
        ensure_jars(self.jars_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id, self.port, cport = self._state()
        props = self.data_dir / "server.properties"
        props.write_text(self._properties(cport))
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file))
        java = ["java", f"-Xmx{self.heap_mb}m", f"-Xms{min(256, self.heap_mb)}m", "-XX:+UseG1GC",
                "-XX:TieredStopAtLevel=1", f"-Dlog4j2.configurationFile={log4j}",
                "-cp", str(self.jars_dir / "*")]
        fmt = subprocess.run(java + ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props),
                                     "--ignore-formatted"], capture_output=True, text=True, check=False)
        if fmt.returncode != 0:
            raise BrokerError(f"storage format failed: {fmt.stdout[-2000:]}{fmt.stderr[-2000:]}")
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.data_dir / "broker.stdout", "ab") as stdout:
            self._proc = spawn_tied(java + ["kafka.Kafka", str(props)], stdout=stdout,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready(offset, timeout_s)
        log.info("kafka broker ready at %s (logs in %s)", self.bootstrap, self.log_file)
        return self.bootstrap

    def _wait_ready(self, log_offset: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = (self.data_dir / "broker.stdout").read_text(errors="replace")[-3000:]
                self._proc = None
                raise BrokerError(f"kafka exited with {self._proc and self._proc.returncode}: {tail}")
            if self.log_file.exists():
                with open(self.log_file, "rb") as f:
                    f.seek(log_offset)
                    if _READY_LINE.encode() in f.read():
                        return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"kafka did not start within {timeout_s:.0f}s; see {self.log_file}")

    @property
    def returncode(self) -> int | None:
        """The broker process's exit code once it has ended; None while it runs (or before start)."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Idempotent; a clean SIGTERM first so the logs stay consistent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
