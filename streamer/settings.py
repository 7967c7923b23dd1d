"""Gateway settings, read from the environment once (prefix AVATAR_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from processors.settings import KafkaSettings


@dataclass(frozen=True)
class GatewaySettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    jobs_in_memory: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        return cls(
            kafka=KafkaSettings.from_env(env),
            data_dir=Path(env.get("AVATAR_DATA_DIR", str(cls.data_dir))),
            host=env.get("AVATAR_HOST", cls.host),
            port=int(env.get("AVATAR_PORT", cls.port)),
            jobs_in_memory=int(env.get("AVATAR_JOBS_IN_MEMORY", cls.jobs_in_memory)),
        )
