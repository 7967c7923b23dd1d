"""The gateway's worker board and /health body: live workers per stage, lag, degraded."""

from __future__ import annotations

import orjson

from schemas.workers import WorkerHeartbeat
from streamer.workers import WorkerBoard, health_of

STAGES = ("chunker", "tts")


def _beat(worker_id: str, stages: list[str], at: float, **fields: object) -> WorkerHeartbeat:
    return WorkerHeartbeat.model_validate(dict(worker_id=worker_id, host="h", pid=7, stages=stages,
                                               interval_s=1.0, at=at, started_at=0.0, **fields))


def test_health_lists_live_workers_per_stage_and_sums_their_lag() -> None:
    board = WorkerBoard()
    board.apply("a", _beat("a", ["chunker", "tts"], at=99.5, lag={"chunker": 1, "tts": 2},
                           jobs={"tts": ["j1"]}, partitions={"avatar.sentences": [0, 1]}))
    board.apply("b", _beat("b", ["tts"], at=98.5, lag={"tts": 5}))
    board.apply("old", _beat("old", ["chunker"], at=50.0, lag={"chunker": 100}))
    body = orjson.loads(health_of(True, board, STAGES, now=100.0).to_json())
    assert body["status"] == "ok" and body["broker"] is True and body["degraded"] is False
    assert body["reasons"] == []
    assert body["stages"] == {"chunker": {"v": 1, "workers": ["a"], "lag": 1},
                              "tts": {"v": 1, "workers": ["a", "b"], "lag": 7}}
    assert [w["worker_id"] for w in body["workers"]] == ["a", "b"]
    assert body["workers"][0] == {"v": 1, "worker_id": "a", "host": "h", "pid": 7,
                                  "stages": ["chunker", "tts"], "age_s": 0.5,
                                  "partitions": {"avatar.sentences": [0, 1]},
                                  "jobs": {"tts": ["j1"]}, "lag": {"chunker": 1, "tts": 2}}


def test_a_stage_without_a_live_worker_degrades_and_says_which() -> None:
    board = WorkerBoard()
    board.apply("a", _beat("a", ["chunker"], at=100.0))
    health = health_of(True, board, STAGES, now=102.0)
    assert health.status == "degraded" and health.degraded and health.broker
    assert health.reasons == ["no live worker runs tts"]
    assert health.stages["tts"].workers == [] and health.stages["tts"].lag is None
    assert health_of(True, board, STAGES, now=103.0).reasons == ["no live worker runs chunker",
                                                                 "no live worker runs tts"]
    down = health_of(False, WorkerBoard(), (), now=0.0)
    assert down.degraded and down.reasons == ["the broker does not answer"]


def test_gone_and_tombstoned_workers_leave_at_once() -> None:
    board = WorkerBoard()
    board.apply("a", _beat("a", ["tts"], at=100.0))
    board.apply("b", _beat("b", ["tts"], at=100.0))
    board.apply("a", _beat("a", ["tts"], at=100.5, gone=True))
    board.apply("b", None)
    assert board.live(now=100.6) == []
    board.apply("c", _beat("c", ["avatars"], at=100.0))
    assert list(health_of(True, board, STAGES, now=100.0).stages) == ["chunker", "tts", "avatars"]
