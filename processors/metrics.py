"""A worker's Prometheus metrics, served on its own port (`AVATAR_METRICS_PORT`).

Counted where the work happens: seconds per record in `StageContext` (every stage alike),
frames in the lip-sync stage, characters in the TTS stage, failures where a stage fails a
job. Consumer lag is read at scrape time from what the heartbeat last measured, per input
partition this worker holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import Counter, Histogram

from core.metrics import PREFIX, STAGE_BUCKETS, GaugeCollector, new_registry


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_seconds", "Seconds a stage spent on one record (or one batch of records)",
            ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.records = Counter(f"{PREFIX}_stage_records_total", "Records a stage finished", ["stage"],
                               registry=r)
        self.frames = Counter(f"{PREFIX}_frames_rendered_total", "Video frames the lip-sync stage rendered",
                              ["renderer"], registry=r)
        self.tts_characters = Counter(f"{PREFIX}_tts_characters_total",
                                      "Characters of text sent to a speech provider", ["provider"],
                                      registry=r)
        self.failures = Counter(f"{PREFIX}_job_failures_total",
                                "Jobs a stage failed, by the kind of error", ["stage", "cause"], registry=r)
        self.dead_letters = Counter(f"{PREFIX}_dead_letters_total",
                                    "Unreadable records sent to the dead-letter topic", ["stage"], registry=r)

        self._lag: Callable[[], Mapping[tuple[str, str, int], int]] = dict
        r.register(GaugeCollector(
            f"{PREFIX}_consumer_lag_records",
            "Records between a stage's committed offset and the end of an input partition it holds",
            ["stage", "topic", "partition"], self._lag_samples))

    def watch_lag(self, read: Callable[[], Mapping[tuple[str, str, int], int]]) -> None:
        """`read()`: records behind per (stage, topic, partition), as last measured."""
        self._lag = read

    def _lag_samples(self) -> Iterable[tuple[tuple[str, ...], float]]:
        return [((stage, topic, str(partition)), float(lag))
                for (stage, topic, partition), lag in sorted(self._lag().items())]
