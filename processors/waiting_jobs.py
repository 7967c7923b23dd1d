"""Requests the chunker holds until admission gives them a slot (processors/admission.py).

A held request lives in the `admission-waiting` table (changelog in Kafka), keyed by its
job_id, so it survives the worker: the next owner of its partition recovers it and starts
it in its turn. The table is written from a timer too (a job starts when another ends, not
when a record comes), so its changelog partition is the key's, by the producer's
partitioner: the partition the request itself came on, since requests are keyed by job_id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from processors.admission import Admission
from processors.context import StageContext
from schemas.requests import ScriptRequest
from schemas.status import JobState

REPORT_EVERY_S = 5.0  # a waiting job's place is told again this often, or when it changes


@dataclass(frozen=True)
class Held:
    request: ScriptRequest
    partition: int
    queued_at: float


def waiting_table(ctx: StageContext) -> faust.Table:
    return ctx.app.Table("admission-waiting", default=None, partitions=ctx.settings.kafka.partitions,
                         key_type=bytes, value_type=bytes, use_partitioner=True)


class Waiting:
    """`table`: job_id -> the held request (JSON), its partition and when it was held."""

    def __init__(self, ctx: StageContext, admission: Admission, stage: str,
                 table: MutableMapping[bytes, bytes]) -> None:
        self.ctx, self.admission, self.stage, self.table = ctx, admission, stage, table
        self._told: dict[str, tuple[int, float]] = {}  # job -> (position, when) last reported

    def holds(self, job_id: str) -> bool:
        return self.table.get(job_id.encode()) is not None

    def drop(self, job_id: str) -> None:
        self._told.pop(job_id, None)
        if self.holds(job_id):
            del self.table[job_id.encode()]

    async def hold(self, request: ScriptRequest, partition: int) -> None:
        key = request.job_id.encode()
        kept = self.table.get(key)
        queued_at = time.time() if kept is None else float(orjson.loads(kept)["queued_at"])
        if kept is None:
            self.table[key] = orjson.dumps({"request": request.to_json().decode(), "partition": partition,
                                            "queued_at": queued_at})
        await self.tell(request, queued_at, force=True)

    async def tell(self, request: ScriptRequest, queued_at: float, force: bool = False) -> None:
        """A queued status with the job's place in line, when it changed or REPORT_EVERY_S passed."""
        now = time.time()
        place = self.admission.place(request.job_id, request.priority, now)
        told = self._told.get(request.job_id)
        if not force and told is not None and told[0] == place.position and now - told[1] < REPORT_EVERY_S:
            return
        self._told[request.job_id] = (place.position, now)
        fields: dict[str, Any] = {
            "tenant": request.tenant, "priority": request.priority, "queue_position": place.position,
            "estimated_start_s": place.estimated_start_s, "avatar_id": request.avatar_id,
            "voice_id": request.voice_id, "text_chars": len(request.text or ""),
            "created_at": request.submitted_at,
            "message": f"waiting for a slot: number {place.position} in line, "
                       f"about {place.estimated_start_s:.0f} s"}
        await self.ctx.report(request.job_id, self.stage, JobState.QUEUED, **fields)

    def owned(self) -> Iterator[Held]:
        """The held requests of the partitions this worker owns now, first come first."""
        topic = self.ctx.settings.kafka.topics.requests
        mine = {tp.partition for tp in self.ctx.app.consumer.assignment() if tp.topic == topic}
        held = []
        for _key, raw in list(self.table.items()):
            if raw is None:
                continue
            value = orjson.loads(raw)
            if value["partition"] in mine:
                held.append(Held(ScriptRequest.from_json(value["request"]), value["partition"],
                                 float(value["queued_at"])))
        return iter(sorted(held, key=lambda h: (h.request.submitted_at or h.queued_at, h.request.job_id)))

