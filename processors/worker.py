"""Builds the Faust app with the chosen stages and runs it as a worker process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faust
import mode

from core.store import MediaStore
from models.avatars.avatar import Avatar
from processors import assembler, avatars, chunker, encoder, lipsync, tts
from processors.app import create_app
from processors.avatar_cache import AvatarCache, store_loader
from processors.avatars import ensure_sample_avatar
from processors.context import StageContext
from processors.job_control import JobControl
from processors.settings import WorkerSettings
from processors.topics import declare_topics

log = logging.getLogger(__name__)

STAGES: dict[str, Callable[[StageContext], None]] = {
    "chunker": chunker.register,
    "tts": tts.register,
    "lipsync": lipsync.register,
    "encoder": encoder.register,
    "assembler": assembler.register,
    "avatars": avatars.register,
}


def build_worker_app(settings: WorkerSettings) -> faust.App:
    app = create_app(settings)
    control = JobControl(settings.kafka.bootstrap_servers, settings.kafka.topics.status)
    store = MediaStore(settings.data_dir)
    # one copy of each avatar per worker: the encoder composes on it, the renderers are built on it
    avatar_cache: AvatarCache[Avatar] = AvatarCache(store_loader(store), lambda avatar: avatar,
                                                    settings.avatars.cache_size)
    ctx = StageContext(app=app, topics=declare_topics(app, settings.kafka), settings=settings,
                       store=store, avatars=avatar_cache,
                       executor=ThreadPoolExecutor(settings.cpu_threads, thread_name_prefix="cpu"),
                       control=control)

    @app.service
    class _Control(mode.Service):  # lifetime tied to the worker's: started and stopped with it
        async def on_start(self) -> None:
            await control.start()

        async def on_stop(self) -> None:
            await control.stop()

    for name in settings.stages:
        STAGES[name](ctx)
        log.info("stage %s registered", name)
    return app


def run_worker(settings: WorkerSettings, ready_file: Path | None = None) -> None:
    """Blocks until SIGINT/SIGTERM; Faust's Worker owns the loop and the signals.

    `ready_file` is written once partitions are assigned and tables recovered,
    which is when a request would be served without waiting.
    """
    if "lipsync" in settings.stages or "avatars" in settings.stages:
        ensure_sample_avatar(MediaStore(settings.data_dir))  # the default avatar works on any deployment
    app = build_worker_app(settings)
    if ready_file is not None:
        ready_file.parent.mkdir(parents=True, exist_ok=True)

        async def mark_ready(sender: faust.App, **_: object) -> None:
            ready_file.write_text(f"{os.getpid()}\n")
            log.info("worker ready")

        app.on_rebalance_complete.connect(mark_ready)
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
