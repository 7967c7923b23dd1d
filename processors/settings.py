"""Worker settings, read from the environment once (prefix AVATAR_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.topics import TopicNames

ALL_STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "avatar"
    partitions: int = 4

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSettings:
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic_prefix=env.get("AVATAR_TOPIC_PREFIX", cls.topic_prefix),
            partitions=int(env.get("AVATAR_PARTITIONS", cls.partitions)),
        )


@dataclass(frozen=True)
class WorkerSettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    data_dir: Path = Path("data")
    stages: tuple[str, ...] = ALL_STAGES
    app_id: str = "avatar-stream"
    log_level: str = "info"
    cpu_threads: int = 2
    max_sentence_chars: int = 240
    first_sentence_chars: int = 80
    tts_deterministic: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        stages = tuple(s for s in env.get("AVATAR_STAGES", ",".join(ALL_STAGES)).split(",") if s)
        unknown = set(stages) - set(ALL_STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from {', '.join(ALL_STAGES)}")
        return cls(
            kafka=KafkaSettings.from_env(env),
            data_dir=Path(env.get("AVATAR_DATA_DIR", str(cls.data_dir))),
            stages=stages,
            app_id=env.get("AVATAR_APP_ID", cls.app_id),
            log_level=env.get("AVATAR_LOG_LEVEL", cls.log_level),
            cpu_threads=int(env.get("AVATAR_CPU_THREADS", cls.cpu_threads)),
            max_sentence_chars=int(env.get("AVATAR_MAX_SENTENCE_CHARS", cls.max_sentence_chars)),
            first_sentence_chars=int(env.get("AVATAR_FIRST_SENTENCE_CHARS", cls.first_sentence_chars)),
            tts_deterministic=env.get("AVATAR_TTS_DETERMINISTIC", "0").lower() in ("1", "true", "yes"),
        )
