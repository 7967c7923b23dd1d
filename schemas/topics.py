"""Topic names and their configuration, in pipeline order (the contract with producers)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_RECORD_BYTES = 32 * 1024 * 1024  # frame chunks and segments are large; every client and topic allows this


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicNames:
    prefix: str = "avatar"

    @property
    def requests(self) -> str:
        return f"{self.prefix}.requests"

    @property
    def session_input(self) -> str:
        return f"{self.prefix}.session-input"

    @property
    def sentences(self) -> str:
        return f"{self.prefix}.sentences"

    @property
    def audio(self) -> str:
        return f"{self.prefix}.audio"

    @property
    def frames(self) -> str:
        return f"{self.prefix}.frames"

    @property
    def segments(self) -> str:
        return f"{self.prefix}.segments"

    @property
    def captions(self) -> str:
        return f"{self.prefix}.captions"

    @property
    def avatars(self) -> str:
        return f"{self.prefix}.avatars"

    @property
    def status(self) -> str:
        return f"{self.prefix}.status"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    @property
    def workers(self) -> str:
        return f"{self.prefix}.workers"

    @property
    def usage(self) -> str:
        return f"{self.prefix}.usage"

    @property
    def webhook_deliveries(self) -> str:
        return f"{self.prefix}.webhook-deliveries"

    def specs(self, partitions: int) -> list[TopicSpec]:
        big = {"max.message.bytes": str(MAX_RECORD_BYTES), "retention.ms": str(24 * 3600 * 1000)}
        return [
            TopicSpec(self.requests, partitions, {"retention.ms": str(7 * 24 * 3600 * 1000)}),
            # SessionInputRecord JSON, key session_id: what a live session is told, in order
            TopicSpec(self.session_input, partitions, {"retention.ms": str(7 * 24 * 3600 * 1000)}),
            TopicSpec(self.sentences, partitions, {}),
            TopicSpec(self.audio, partitions, big),
            TopicSpec(self.frames, partitions, big),
            TopicSpec(self.segments, partitions, big),
            TopicSpec(self.captions, partitions, {}),
            TopicSpec(self.avatars, partitions, {"retention.ms": str(7 * 24 * 3600 * 1000)}),
            TopicSpec(self.status, partitions, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
            TopicSpec(self.deadletter, 1, {"retention.ms": str(14 * 24 * 3600 * 1000)}),
            # WorkerHeartbeat JSON, key worker_id: the newest per worker, a day at most
            TopicSpec(self.workers, 1, {"cleanup.policy": "compact,delete",
                                        "min.compaction.lag.ms": "0",
                                        "retention.ms": str(24 * 3600 * 1000),
                                        "segment.ms": str(3600 * 1000)}),
            # UsageRecord JSON, key job_id/stage/part: one per piece of work, kept 400 days
            TopicSpec(self.usage, partitions, {"cleanup.policy": "compact,delete",
                                               "min.compaction.lag.ms": "0",
                                               "retention.ms": str(400 * 24 * 3600 * 1000)}),
            # WebhookDelivery JSON, key delivery_id, on the partition of its job's status
            TopicSpec(self.webhook_deliveries, partitions, {"cleanup.policy": "compact,delete",
                                                            "min.compaction.lag.ms": "0",
                                                            "retention.ms": str(30 * 24 * 3600 * 1000)}),
        ]
