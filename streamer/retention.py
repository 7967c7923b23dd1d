"""Retention: finished and failed jobs' files are deleted `AVATAR_RETENTION_HOURS` after
they ended, and their status is tombstoned on the compacted status topic, so neither disk
nor topic grows without end. Usage stays billed: before the tombstone the sweep leaves a
usage record with the job's day and owner (streamer/usage.py).

Each gateway sweeps; two sweeping the same job delete nothing twice and write the same
tombstone. Files come first and the tombstone last, so a sweep cut short is finished by
the next one. Folders no status names any more (a job removed while a late record still
wrote a file) go once nothing has changed in them for as long.
"""

from __future__ import annotations

import asyncio
import logging
import time

from schemas.usage import UsageRecord
from streamer.state import GatewayState

log = logging.getLogger(__name__)
RECORD_STAGE, RECORD_PART = "gateway", "retained"


async def sweep(state: GatewayState, now: float | None = None) -> int:
    """One pass; returns how many jobs it removed."""
    retention_s = state.settings.retention_hours * 3600
    cutoff = (time.time() if now is None else now) - retention_s
    removed, freed = 0, 0
    for status in state.board.expired(cutoff):
        usage = state.board.usage.get(status.job_id)
        if usage is not None and usage.created_at is not None:
            await state.kafka.send_usage(UsageRecord(job_id=status.job_id, stage=RECORD_STAGE, part=RECORD_PART,
                                                     created_at=usage.created_at, tenant=usage.tenant))
        freed += await asyncio.to_thread(state.store.delete_job, status.job_id)
        await state.kafka.send_tombstone(status.job_id)
        state.board.forget(status.job_id)
        removed += 1
    for job_id in await asyncio.to_thread(state.store.idle_jobs, cutoff):
        if state.board.get(job_id) is None:
            freed += await asyncio.to_thread(state.store.delete_job, job_id)
    if removed or freed:
        log.info("retention: removed %d jobs ended over %.4g h ago, freed %.1f MB", removed,
                 state.settings.retention_hours, freed / 2**20)
    return removed


async def sweep_forever(state: GatewayState) -> None:
    """Sweeps every `AVATAR_RETENTION_SWEEP_S`, the first time one interval after start (the
    status topic read by then); a failed pass is logged and tried again at the next."""
    if state.settings.retention_hours <= 0:
        log.info("retention is off (AVATAR_RETENTION_HOURS=0): jobs' files are kept")
        return
    while True:
        await asyncio.sleep(state.settings.retention_sweep_s)
        try:
            await sweep(state)
        except Exception:  # the broker away, a disk error: the next pass tries again
            log.warning("retention sweep failed; trying again in %.0f s", state.settings.retention_sweep_s,
                        exc_info=True)
