"""Every topic the workers use, declared in pipeline order, all carrying raw bytes.

Values are decoded by the stages themselves (schemas/), so an unreadable record
becomes a dead letter instead of crashing the agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from core.settings import KafkaSettings


@dataclass(frozen=True)
class Topics:
    requests: faust.TopicT        # ScriptRequest (JSON)
    session_input: faust.TopicT   # SessionInputRecord (JSON), key session_id
    sentences: faust.TopicT       # Sentence (JSON)
    audio: faust.TopicT           # AudioChunkMeta header + PCM
    frames: faust.TopicT          # FrameChunkMeta header + patches + PCM
    segments: faust.TopicT        # SegmentMeta header + MP4 bytes
    captions: faust.TopicT        # CaptionChunk (JSON): word timings for clients
    avatars: faust.TopicT         # avatar training requests (schemas/avatars.py)
    status: faust.TopicT          # StatusEvent (JSON), compacted
    deadletter: faust.TopicT      # DeadLetterMeta header + original bytes
    usage: faust.TopicT           # UsageRecord (JSON), key job_id/stage/part, compacted
    webhook_deliveries: faust.TopicT  # WebhookDelivery (JSON), key delivery_id, compacted


def declare_topics(app: faust.App, kafka: KafkaSettings) -> Topics:
    specs = {spec.name: spec for spec in kafka.topics.specs(kafka.partitions)}

    def topic(name: str) -> faust.TopicT:
        spec = specs[name]
        return app.topic(name, partitions=spec.partitions, config=spec.config,
                         key_serializer="raw", value_serializer="raw")

    names = kafka.topics
    return Topics(
        requests=topic(names.requests),
        session_input=topic(names.session_input),
        sentences=topic(names.sentences),
        audio=topic(names.audio),
        frames=topic(names.frames),
        segments=topic(names.segments),
        captions=topic(names.captions),
        avatars=topic(names.avatars),
        status=topic(names.status),
        deadletter=topic(names.deadletter),
        usage=topic(names.usage),
        webhook_deliveries=topic(names.webhook_deliveries),
    )
