"""Retention on a real broker: a gateway with a short retention deletes the files of jobs
that ended longer ago and tombstones their status, keeps what is recent, removes stale
folders no status names, and a gateway started afterwards still bills the removed job.

The gateways here use a topic prefix and data dir of their own, so the sweep sees only
the jobs this test wrote, as the workers would have (status and usage records)."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from pathlib import Path

import httpx

from cli.stack import Stack
from core.settings import KafkaSettings
from schemas.status import JobState, StatusEvent
from schemas.topics import TopicNames
from schemas.usage import UsageRecord
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.usage import Tally
from tests.e2e.gateway_util import extra_gateway, poll
from tests.e2e.kafka_util import produce, read_topic

RETENTION_H = 0.01  # 36 s: the "old" job ended 100 s ago, the "fresh" one just now


def _env(prefix: str, data_dir: Path, retention_h: float) -> dict[str, str]:
    return {"AVATAR_TOPIC_PREFIX": prefix, "AVATAR_DATA_DIR": str(data_dir), "AVATAR_EXPECTED_STAGES": "",
            "AVATAR_RETENTION_HOURS": str(retention_h), "AVATAR_RETENTION_SWEEP_S": "0.2"}


def _job_files(data_dir: Path, job_id: str, age_s: float = 0.0) -> Path:
    folder = data_dir / "jobs" / job_id
    (folder / "segments").mkdir(parents=True)
    (folder / "final.mp4").write_bytes(b"\0" * 1000)
    when = time.time() - age_s
    for path in (folder / "segments", folder / "final.mp4", folder):
        os.utime(path, (when, when))
    return folder


async def _code(url: str, path: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return (await http.get(path)).status_code


async def _usage_days(url: str) -> list[dict[str, object]]:
    today = dt.datetime.now(dt.UTC).date()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        params = {"from": (today - dt.timedelta(days=1)).isoformat(), "to": today.isoformat()}
        return list((await http.get("/api/v1/usage", params=params)).json()["days"])


async def test_ended_jobs_are_removed_after_the_retention_and_stay_billed(stack: Stack, tmp_path: Path) -> None:
    prefix = f"ret{uuid.uuid4().hex[:8]}"
    topics, now = TopicNames(prefix), time.time()
    old, fresh = "ret-old", "ret-fresh"
    old_dir, fresh_dir = _job_files(tmp_path, old), _job_files(tmp_path, fresh)
    stale = _job_files(tmp_path, "ret-stale-orphan", age_s=100)
    recent = _job_files(tmp_path, "ret-recent-orphan")
    with extra_gateway(stack, "gateway-retention", _env(prefix, tmp_path, RETENTION_H)) as url:
        await produce(stack, topics.status, [
            (old.encode(), StatusEvent(job_id=old, state=JobState.COMPLETED, stage="assembler", at=now - 100,
                                       created_at=now - 130).to_json(), None),
            (fresh.encode(), StatusEvent(job_id=fresh, state=JobState.COMPLETED, stage="assembler", at=now,
                                         created_at=now - 30).to_json(), None)])
        usage = UsageRecord(job_id=old, stage="tts", part="0", cpu_s=1.5, tts_characters={"piper": 12})
        await produce(stack, topics.usage, [(usage.key, usage.to_json(), None)])

        async def removed() -> bool | None:
            return True if await _code(url, f"/api/v1/status/{old}") == 404 and not old_dir.exists() else None
        await poll(removed, 30)
        assert await _code(url, f"/api/v1/status/{fresh}") == 200 and fresh_dir.exists()
        assert not stale.exists() and recent.exists()
        tombstones = await read_topic(stack, topics.status, lambda r: r.key == old.encode() and r.value is None)
        assert len(tombstones) >= 1

        async def billed() -> list[dict[str, object]] | None:
            days = await _usage_days(url)
            return days if sum(int(d["jobs"]) for d in days) == 2 else None  # type: ignore[call-overload]
        await poll(billed, 10)

    # A gateway started afterwards reads the topics from the start: the job is gone, its usage
    # is not (the gateway's own Kafka readers and board, in this process).
    board = JobBoard()
    kafka = GatewayKafka(KafkaSettings(bootstrap_servers=stack.bootstrap, topic_prefix=prefix), board)
    await kafka.start()
    try:
        async def still_billed() -> list[tuple[str, float, Tally]] | None:
            rows = list(board.usage.rows())
            done = len(rows) == 2 and any(t.cpu_s for _, _, t in rows) and board.get(fresh) is not None
            return rows if done else None
        rows = await poll(still_billed, 20)
        assert board.get(old) is None
        [(_, created, tally)] = [row for row in rows if row[2].cpu_s]
        assert abs(created - (now - 130)) < 0.01
        assert tally.cpu_s == {"tts": 1.5} and tally.tts_characters == {"piper": 12}
    finally:
        await kafka.stop()
