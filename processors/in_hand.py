"""Which jobs each stage of this worker is working on: the jobs whose records it took lately.

A faust Sensor notes the key (every topic is keyed by job_id) of each record a stage's
stream hands to its agent, so the stages themselves need no hook; the heartbeat reports
what is noted here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import faust
from faust.types import TP, EventT, StreamT

RECENT_S = 30.0
PER_STAGE = 32


class JobsInHand:
    """Per stage, the jobs seen within `recent_s`, newest first, at most `per_stage` of them."""

    def __init__(self, recent_s: float = RECENT_S, per_stage: int = PER_STAGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._recent_s = recent_s
        self._per_stage = per_stage
        self._clock = clock
        self._seen: dict[str, OrderedDict[str, float]] = {}

    def note(self, stage: str, job_id: str) -> None:
        seen = self._seen.setdefault(stage, OrderedDict())
        seen[job_id] = self._clock()
        seen.move_to_end(job_id)
        while len(seen) > self._per_stage:
            seen.popitem(last=False)

    def recent(self) -> dict[str, list[str]]:
        oldest = self._clock() - self._recent_s
        out: dict[str, list[str]] = {}
        for stage, seen in self._seen.items():
            while seen and next(iter(seen.values())) < oldest:
                seen.popitem(last=False)
            if seen:
                out[stage] = list(reversed(seen))
        return out


class InHandSensor(faust.Sensor):
    """Notes the job of every record that a stage's stream takes from its input topic."""

    def __init__(self, jobs: JobsInHand, stage_of_topic: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._jobs = jobs
        self.stage_of_topic = dict(stage_of_topic)

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT,
                           event: EventT) -> dict | None:
        stage = self.stage_of_topic.get(tp.topic)
        if stage is not None and isinstance(event.key, bytes):
            self._jobs.note(stage, event.key.decode(errors="replace"))
        return None
