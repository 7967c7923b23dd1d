"""What the gateway's and the workers' Prometheus metrics share: a registry per service and
the worker's HTTP endpoint.

A registry per service object, not prometheus_client's global one: a process that builds
two gateways (the tests do) gets two sets of counters, and a collector that reads a live
object (the job board, the consumer's lag) is registered with the object it reads.
Names follow Prometheus conventions: `avatar_stream_` first, units in the name
(`_seconds`, `_bytes`), counters ending in `_total`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
PREFIX = "avatar_stream"
# seconds from a request to its first segment: the targets sit at 1-3 s, an overload at minutes
FIRST_SEGMENT_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
# seconds a stage spends on one record: a chunker split (ms) to a Wav2Lip batch on CPUs (s)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def new_registry() -> CollectorRegistry:
    """A registry with the process's own figures (CPU, memory, open files, GC, Python)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (served with `CONTENT_TYPE`)."""
    return generate_latest(registry)


class GaugeCollector(Collector):
    """One gauge family read at scrape time from `read()`: (label values, value) pairs."""

    def __init__(self, name: str, documentation: str, labels: list[str],
                 read: Callable[[], Iterable[tuple[tuple[str, ...], float]]]) -> None:
        self._name, self._doc, self._labels, self._read = name, documentation, labels, read

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self._doc, labels=self._labels)]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        for values, value in self._read():
            family.add_metric(list(values), value)
        return [family]


@dataclass
class MetricsServer:
    """A worker's `/metrics` on its own port, served from a daemon thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(registry: CollectorRegistry, port: int, addr: str) -> MetricsServer | None:
    """`/metrics` on `addr:port` (0: a free port); None, with one warning, when the port is
    taken: a second worker on a host must not die of its metrics."""
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        log.warning("metrics not served: %s:%d is not available (%s); set AVATAR_METRICS_PORT "
                    "to a free port, or 0 for any", addr, port, exc.strerror or exc)
        return None
    served = MetricsServer(server, thread)
    log.info("metrics at http://%s:%d/metrics", addr, served.port)
    return served
