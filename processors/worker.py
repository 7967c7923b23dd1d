"""Builds the Faust app with the chosen stages and runs it as a worker process."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import faust
import mode

from core.logs import logging_config
from core.metrics import serve
from core.store import MediaStore
from models.avatars.avatar import Avatar
from processors import assembler, avatars, chunker, encoder, lipsync, sessions, tts, webhooks
from processors.app import create_app
from processors.avatar_cache import AvatarCache, store_loader
from processors.avatars import ensure_sample_avatar
from processors.context import StageContext
from processors.cpu_pool import DeadlinePool
from processors.heartbeat import Heartbeat, assignment_of, partitions_by_topic, write_ready_file
from processors.in_hand import InHandSensor, JobsInHand
from processors.job_control import JobControl
from processors.metrics import WorkerMetrics
from processors.rebalance import DeliveryWatchdog, RecoveryWatchdog
from processors.settings import WorkerSettings
from processors.topics import declare_topics

log = logging.getLogger(__name__)

def _entry(ctx: StageContext) -> None:
    """The chunker stage: scripts and live sessions alike become sentences."""
    chunker.register(ctx)
    sessions.register(ctx)


STAGES: dict[str, Callable[[StageContext], None]] = {
    "chunker": _entry,
    "tts": tts.register,
    "lipsync": lipsync.register,
    "encoder": encoder.register,
    "assembler": assembler.register,
    "avatars": avatars.register,
    "webhooks": webhooks.register,
}


def records_waiting(app: faust.App) -> bool:
    """Whether records wait inside this worker for its stages: in a stage's Faust buffer,
    held back because one was full, or sent and not yet out of the producer's buffer."""
    if app.producer.buffer.size or app.consumer._buffered_partitions:
        return True
    return any(not actor.stream.channel.queue.empty()
               for agent in app.agents.values() for actor in agent._actors)


def build_worker_app(settings: WorkerSettings, ready_file: Path | None = None,
                     metrics: WorkerMetrics | None = None, metrics_port: int | None = None) -> faust.App:
    """`ready_file` is written (JSON: pid, worker_id, partitions by topic, the port serving
    `metrics`) after every rebalance, once partitions are assigned and tables recovered: from
    the first one on, a request would be served without waiting."""
    app = create_app(settings)
    metrics = WorkerMetrics() if metrics is None else metrics
    control = JobControl(settings.kafka.bootstrap_servers, settings.kafka.topics.status)
    store = MediaStore(settings.data_dir)
    # one copy of each avatar per worker: the encoder composes on it, the renderers are built on it
    avatar_cache: AvatarCache[Avatar] = AvatarCache(store_loader(store), lambda avatar: avatar,
                                                    settings.avatars.cache_size)
    ctx = StageContext(app=app, topics=declare_topics(app, settings.kafka), settings=settings,
                       store=store, avatars=avatar_cache,
                       executor=DeadlinePool(settings.cpu_threads),
                       control=control, metrics=metrics)
    for name in settings.stages:
        STAGES[name](ctx)
        log.info("stage %s registered", name)
    agents_of_stage = {name: [name, *(["sessions"] if name == "chunker" else [])] for name in settings.stages}
    stage_of_topic = {topic: name for name in settings.stages for agent in agents_of_stage[name]
                      for topic in app.agents[agent].channel.topics}
    jobs = JobsInHand()
    app.sensors.add(InHandSensor(jobs, stage_of_topic))
    heartbeat = Heartbeat(app, settings, stage_of_topic, jobs)
    metrics.watch_lag(lambda: heartbeat.partition_lag)

    @app.service
    class _Lifetime(mode.Service):  # lifetime tied to the worker's: started and stopped with it
        async def on_start(self) -> None:
            await control.start()
            await heartbeat.start()

        async def on_stop(self) -> None:
            await heartbeat.stop()
            await control.stop()

    async def on_rebalanced(sender: faust.App, **_: object) -> None:
        if ready_file is not None:
            assigned = partitions_by_topic(assignment_of(app))
            write_ready_file(ready_file, heartbeat.worker_id, assigned, metrics_port)
            log.info("worker ready")
        heartbeat.beat_soon()

    app.on_rebalance_complete.connect(on_rebalanced)
    recovery = RecoveryWatchdog(app)
    delivery = DeliveryWatchdog(app, busy=functools.partial(records_waiting, app))
    app.sensors.add(delivery)

    async def on_assigned(sender: faust.App, *_: object, **__: object) -> None:
        delivery.reset()

    app.on_partitions_assigned.connect(on_assigned)

    @app.timer(0.5)
    async def _recovery(*_: object) -> None:
        await recovery.check()

    @app.task
    async def _delivery(*_: object) -> None:
        await delivery.watch()
    return app


def run_worker(settings: WorkerSettings, ready_file: Path | None = None) -> None:
    """Blocks until SIGINT/SIGTERM; Faust's Worker owns the loop and the signals."""
    if "lipsync" in settings.stages or "avatars" in settings.stages:
        ensure_sample_avatar(MediaStore(settings.data_dir))  # the default avatar works on any deployment
    # served from the start (a thread of its own), so a scrape sees a worker that is still
    # joining its group or recovering its tables
    metrics = WorkerMetrics()
    server = None if settings.metrics_port is None else serve(metrics.registry, settings.metrics_port,
                                                               settings.metrics_addr)
    app = build_worker_app(settings, ready_file, metrics, None if server is None else server.port)
    # Faust replaces the root logger's handlers when it starts: give it ours (JSON lines), and
    # quiet=True keeps its console prints (" OK ^", the spinner) out of stdout
    worker = faust.Worker(app, loglevel=settings.log_level,
                          logging_config=logging_config(settings.log_level), quiet=True)
    worker.execute_from_commandline()
