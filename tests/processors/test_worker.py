"""The worker's wiring: each stage one agent on its topic, bound to its module's agent function,
all stages sharing one context, and one avatar cache for the lipsync and encoder stages."""

from __future__ import annotations

import functools
from pathlib import Path

from core.store import MediaStore
from models.avatars.avatar import save_avatar
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar
from models.lipsync.animator import MouthAnimator
from processors import assembler, avatars, chunker, encoder, lipsync, tts
from processors.context import StageContext
from processors.encoder import JobStreams
from processors.lipsync import Renderers
from processors.settings import WorkerSettings
from processors.worker import build_worker_app


def test_each_stage_is_its_module_agent_on_its_topic(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path)
    app = build_worker_app(settings)
    names = settings.kafka.topics
    expected = {
        "chunker": (chunker.chunker, names.requests),
        "tts": (tts.tts, names.sentences),
        "lipsync": (lipsync.lipsync, names.audio),
        "encoder": (encoder.encoder, names.frames),
        "assembler": (assembler.assembler, names.segments),
        "avatars": (avatars.avatars, names.avatars),
    }
    assert set(app.agents) == set(expected)
    contexts = set()
    for name, (fun, topic) in expected.items():
        agent = app.agents[name]
        assert isinstance(agent.fun, functools.partial) and agent.fun.func is fun
        assert agent.channel.topics == (topic,)
        ctx = agent.fun.args[0]
        assert isinstance(ctx, StageContext) and ctx.app is app
        contexts.add(id(ctx))
    assert len(contexts) == 1  # one context, so one store, pool and avatar cache per worker


def test_lipsync_renders_the_avatars_the_encoder_composes_on(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path, stages=("lipsync", "encoder"))
    save_avatar(sample_avatar(), MediaStore(tmp_path).avatar_dir(SAMPLE_AVATAR_ID))
    app = build_worker_app(settings)
    ctx, renderers = app.agents["lipsync"].fun.args
    encoder_ctx, streams = app.agents["encoder"].fun.args
    assert isinstance(renderers, Renderers) and isinstance(streams, JobStreams)
    assert encoder_ctx is ctx
    renderer = renderers.get(SAMPLE_AVATAR_ID)
    assert isinstance(renderer, MouthAnimator)
    assert renderer.avatar is ctx.avatars.get(SAMPLE_AVATAR_ID)  # one copy in the worker
