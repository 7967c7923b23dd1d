"""Worker heartbeats: one serializer, liveness by the worker's own interval, their topic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.topics import TopicNames
from schemas.workers import HEARTBEAT_MISSES, STAGES, WorkerHeartbeat


def _beat(**fields: object) -> WorkerHeartbeat:
    base: dict[str, object] = {"worker_id": "h:1:ab", "host": "h", "pid": 1, "stages": ["tts"],
                               "interval_s": 2.0, "at": 100.0, "started_at": 90.0}
    return WorkerHeartbeat.model_validate({**base, **fields})


def test_round_trip_and_refusals() -> None:
    beat = _beat(partitions={"avatar.sentences": [0, 2]}, jobs={"tts": ["j2", "j1"]},
                 lag={"tts": 3})
    assert WorkerHeartbeat.from_json(beat.to_json()) == beat
    with pytest.raises(ValidationError):
        _beat(interval_s=0)
    with pytest.raises(ValidationError, match="extra"):
        _beat(colour="red")


def test_live_while_younger_than_the_missed_intervals_and_not_gone() -> None:
    beat = _beat()
    limit = 100.0 + HEARTBEAT_MISSES * 2.0
    assert beat.live(100.0) and beat.live(limit - 0.01)
    assert not beat.live(limit)
    assert not _beat(gone=True).live(100.0)


def test_the_workers_topic_is_compacted_with_one_partition() -> None:
    names = TopicNames("x")
    specs = {spec.name: spec for spec in names.specs(partitions=4)}
    workers = specs[names.workers]
    assert names.workers == "x.workers" and workers.partitions == 1
    assert workers.config["cleanup.policy"] == "compact,delete"
    assert int(workers.config["retention.ms"]) == 24 * 3600 * 1000
    assert STAGES[0] == "chunker" and "avatars" in STAGES
