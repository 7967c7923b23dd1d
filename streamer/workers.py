"""The gateway's view of the workers: the newest heartbeat of each, read from the workers topic.

Liveness is judged when asked (a heartbeat younger than HEARTBEAT_MISSES of the worker's
own intervals), so a worker killed outright drops out without any record saying so.
"""

from __future__ import annotations

import time

from schemas.http import Health, StageHealth, WorkerHealth
from schemas.workers import WorkerHeartbeat

FORGET_AFTER_S = 3600.0  # heartbeats this old are dropped from memory


class WorkerBoard:
    def __init__(self) -> None:
        self._beats: dict[str, WorkerHeartbeat] = {}

    def apply(self, worker_id: str, beat: WorkerHeartbeat | None) -> None:
        """A heartbeat, or None for a tombstone; a worker marked gone is forgotten at once, and
        one whose heartbeat is FORGET_AFTER_S older than this one's."""
        if beat is None or beat.gone:
            self._beats.pop(worker_id, None)
            return
        self._beats[worker_id] = beat
        for stale in [w for w, b in self._beats.items() if b.at < beat.at - FORGET_AFTER_S]:
            del self._beats[stale]

    def live(self, now: float | None = None) -> list[WorkerHeartbeat]:
        at = time.time() if now is None else now
        return sorted((b for b in self._beats.values() if b.live(at)), key=lambda b: b.worker_id)

    def live_by_stage(self, now: float | None = None) -> dict[str, list[WorkerHeartbeat]]:
        out: dict[str, list[WorkerHeartbeat]] = {}
        for beat in self.live(now):
            for stage in beat.stages:
                out.setdefault(stage, []).append(beat)
        return out


def health_of(broker: bool, workers: WorkerBoard, expected_stages: tuple[str, ...],
              low_space: str | None = None, now: float | None = None) -> Health:
    """Degraded when the broker does not answer, an expected stage has no live worker, or
    `low_space` says why the media volume takes no new work."""
    at = time.time() if now is None else now
    by_stage = workers.live_by_stage(at)
    reasons = [] if broker else ["the broker does not answer"]
    reasons += [low_space] if low_space else []
    reasons += [f"no live worker runs {stage}" for stage in expected_stages
                if stage not in by_stage]
    stages: dict[str, StageHealth] = {}
    for stage in (*expected_stages, *sorted(set(by_stage) - set(expected_stages))):
        beats = by_stage.get(stage, [])
        stages[stage] = StageHealth(workers=[b.worker_id for b in beats], lag=_summed(beats, stage))
    live = [WorkerHealth(worker_id=b.worker_id, host=b.host, pid=b.pid, stages=b.stages,
                         age_s=round(max(0.0, at - b.at), 3), partitions=b.partitions, jobs=b.jobs,
                         lag=b.lag) for b in workers.live(at)]
    return Health(status="degraded" if reasons else "ok", broker=broker, degraded=bool(reasons),
                  reasons=reasons, stages=stages, workers=live)


def _summed(beats: list[WorkerHeartbeat], stage: str) -> int | None:
    lags = [b.lag[stage] for b in beats if stage in b.lag]
    return sum(lags) if lags else None
