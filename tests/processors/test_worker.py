"""The worker's wiring: each stage one agent on its topic, bound to its module's agent function,
all stages sharing one context, and one avatar cache for the lipsync and encoder stages; the
heartbeat's parts: jobs in hand, lag, the ready file."""

from __future__ import annotations

import functools
import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

from aiokafka import TopicPartition
from faust.types import TP

from core.store import MediaStore
from models.avatars.avatar import save_avatar
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar
from models.lipsync.animator import MouthAnimator
from processors import assembler, avatars, chunker, encoder, lipsync, sessions, tts, webhooks
from processors.context import StageContext
from processors.heartbeat import Heartbeat, lag_by_stage, partitions_by_topic, write_ready_file
from processors.in_hand import InHandSensor, JobsInHand
from processors.lipsync import Renderers
from processors.settings import WorkerSettings
from processors.worker import build_worker_app


def test_each_stage_is_its_module_agent_on_its_topic(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path)
    app = build_worker_app(settings)
    names = settings.kafka.topics
    expected = {
        "chunker": (chunker.chunker, names.requests),
        "sessions": (sessions.sessions, names.session_input),  # run by the chunker stage
        "tts": (tts.tts, names.sentences),
        "lipsync": (lipsync.lipsync, names.audio),
        "encoder": (encoder.encoder, names.frames),
        "assembler": (assembler.assembler, names.segments),
        "avatars": (avatars.avatars, names.avatars),
        "webhooks": (webhooks.webhooks, names.status),
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
    (encoder_ctx,) = app.agents["encoder"].fun.args
    assert isinstance(renderers, Renderers)
    assert encoder_ctx is ctx
    renderer = renderers.get(SAMPLE_AVATAR_ID)
    assert isinstance(renderer, MouthAnimator)
    assert renderer.avatar is ctx.avatars.get(SAMPLE_AVATAR_ID)  # one copy in the worker


def test_the_sensor_notes_the_job_of_each_stage_input_record(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path, stages=("chunker", "tts"))
    app = build_worker_app(settings)
    (sensor,) = [s for s in app.sensors if isinstance(s, InHandSensor)]
    names = settings.kafka.topics
    assert sensor.stage_of_topic == {names.requests: "chunker", names.session_input: "chunker",
                                     names.sentences: "tts"}
    jobs = JobsInHand()
    noting = InHandSensor(jobs, sensor.stage_of_topic)
    for topic, key in ((names.sentences, b"j1"), (names.requests, b"j2"), (names.sentences, b"j3"),
                       (names.audio, b"elsewhere"), (names.sentences, None)):
        noting.on_stream_event_in(TP(topic, 0), 0, None, SimpleNamespace(key=key))  # type: ignore[arg-type]
    assert jobs.recent() == {"tts": ["j3", "j1"], "chunker": ["j2"]}


def test_jobs_in_hand_are_recent_newest_first_and_bounded() -> None:
    now = [0.0]
    jobs = JobsInHand(recent_s=10.0, per_stage=2, clock=lambda: now[0])
    jobs.note("tts", "a")
    now[0] = 5.0
    jobs.note("tts", "b")
    jobs.note("tts", "a")  # seen again: newest now
    assert jobs.recent() == {"tts": ["a", "b"]}
    jobs.note("tts", "c")
    assert jobs.recent() == {"tts": ["c", "a"]}
    now[0] = 15.5
    assert jobs.recent() == {}


def test_lag_counts_uncommitted_records_of_assigned_input_partitions() -> None:
    stage_of_topic = {"t.sentences": "tts", "t.requests": "chunker"}
    ends = {TopicPartition("t.sentences", 0): 10, TopicPartition("t.sentences", 1): 4,
            TopicPartition("t.requests", 0): 7, TopicPartition("t.changelog", 0): 99}
    committed = {TopicPartition("t.sentences", 0): 6, TopicPartition("t.sentences", 1): 4,
                 TopicPartition("t.requests", 0): 9}
    assert lag_by_stage(stage_of_topic, ends, committed) == {"tts": 4, "chunker": 0}
    assert lag_by_stage(stage_of_topic, {}, {}) == {"tts": 0, "chunker": 0}


def test_ready_file_holds_the_assignment_as_json(tmp_path: Path) -> None:
    ready = tmp_path / "run" / "worker.ready"
    parts = partitions_by_topic([TopicPartition("b", 3), TopicPartition("a", 1),
                                 TopicPartition("b", 0)])
    write_ready_file(ready, "host:1:ff", parts, metrics_port=9464)
    assert json.loads(ready.read_text()) == {"pid": os.getpid(), "worker_id": "host:1:ff",
                                             "partitions": {"a": [1], "b": [0, 3]},
                                             "metrics_port": 9464}
    assert [p.name for p in ready.parent.iterdir()] == ["worker.ready"]


async def test_a_heartbeat_before_any_assignment(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path, stages=("tts",), heartbeat_s=1.5)
    app = build_worker_app(settings)
    jobs = JobsInHand()
    jobs.note("tts", "j1")
    heartbeat = Heartbeat(app, settings, {settings.kafka.topics.sentences: "tts"}, jobs)
    host, pid, suffix = heartbeat.worker_id.split(":")
    assert host == socket.gethostname() and int(pid) == os.getpid() and len(suffix) == 6
    beat = await heartbeat.record()
    assert (beat.stages, beat.partitions, beat.jobs, beat.lag) == (["tts"], {}, {"tts": ["j1"]},
                                                                   {"tts": 0})
    assert beat.interval_s == 1.5 and not beat.gone
    gone = await heartbeat.record(gone=True)
    assert gone.gone and gone.jobs == {} and gone.worker_id == heartbeat.worker_id
