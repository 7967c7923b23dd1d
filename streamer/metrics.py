"""GET /metrics: the gateway's Prometheus metrics (behind the same keys as the API).

Jobs by state and live workers by stage are read from the boards at scrape time, so every
gateway replica reports the whole cluster's jobs (aggregate them with `max`, not `sum`).
The first-segment time is measured when a job's first media segment reaches this gateway
from Kafka: from the request's creation to the moment the relay can send it.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.metrics import (
    CONTENT_TYPE,
    FIRST_SEGMENT_BUCKETS,
    PREFIX,
    GaugeCollector,
    exposition,
    new_registry,
)
from schemas.http import ErrorBody
from schemas.status import JobState
from streamer.jobs import JobBoard, JobView
from streamer.tenants import caller
from streamer.workers import WorkerBoard


class GatewayMetrics:
    def __init__(self, board: JobBoard, workers: WorkerBoard) -> None:
        self.registry = r = new_registry()
        self.first_segment = Histogram(
            f"{PREFIX}_first_segment_seconds",
            "Seconds from a job's request to its first media segment at the gateway",
            buckets=FIRST_SEGMENT_BUCKETS, registry=r)
        self.websocket_clients = Gauge(f"{PREFIX}_websocket_clients", "WebSocket clients watching a job",
                                       registry=r)
        self.sent_bytes = Counter(f"{PREFIX}_websocket_sent_bytes_total",
                                  "Bytes sent to WebSocket clients (segments and messages)", registry=r)
        self.tts_characters = Counter(f"{PREFIX}_tts_characters_total",
                                      "Characters of text sent to a speech provider", ["provider"],
                                      registry=r)
        r.register(GaugeCollector(f"{PREFIX}_jobs", "Jobs known to the gateway, by state", ["state"],
                                  lambda: _jobs_by_state(board)))
        r.register(GaugeCollector(f"{PREFIX}_workers", "Live workers, by the stage they run", ["stage"],
                                  lambda: [((stage, ), float(len(beats)))
                                           for stage, beats in sorted(workers.live_by_stage().items())]))

    def first_media(self, view: JobView) -> None:
        """The job's first media segment has just arrived."""
        created = view.status.created_at
        if created is not None and (waited := time.time() - created) >= 0:
            self.first_segment.observe(waited)


def _jobs_by_state(board: JobBoard) -> Iterable[tuple[tuple[str, ...], float]]:
    counts = Tally(view.status.state for view in board.all())
    return [((state.value, ), float(counts.get(state, 0))) for state in JobState]


async def metrics(request: Request) -> Response:
    """Whole-cluster counts: for admin keys only while keys are checked (streamer/tenants.py)."""
    if not caller(request).is_admin:
        return Response(ErrorBody(error="the metrics need an admin key (AVATAR_ADMIN_KEYS)").to_json(),
                        status_code=403, media_type="application/json")
    registry = request.app.state.gateway.metrics.registry
    return Response(exposition(registry), media_type=CONTENT_TYPE)


routes: list[BaseRoute] = [Route("/metrics", metrics, methods=["GET"], include_in_schema=False)]
