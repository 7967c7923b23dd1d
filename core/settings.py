"""Settings both services read (the gateway and the workers): Kafka, the data dir, the log
level, avatar limits and ElevenLabs. Each is read from the environment in this module only,
once per service, by that service's own settings class (prefix AVATAR_, plus
KAFKA_BOOTSTRAP_SERVERS and ELEVENLABS_)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.topics import TopicNames

DEFAULT_DATA_DIR = Path("data")
DEFAULT_LOG_LEVEL = "info"
# How long a follower's fetch may wait at the broker for new records (aiokafka's default is
# 500 ms). A waiting fetch held up more than new records: the broker answers a connection's
# requests in order, so an offsets request behind it waited too (JobControl.sync took 0.2 to
# 0.5 s per new job, and so did every job's start), and records written meanwhile came up to
# 0.5 s late. The cost: an idle consumer asks 20 times a second.
FOLLOW_FETCH_WAIT_MS = 50


def data_dir_from(env: Mapping[str, str]) -> Path:
    """Where avatars, job files, logs and the embedded broker live (a shared volume in production)."""
    return Path(env.get("AVATAR_DATA_DIR") or DEFAULT_DATA_DIR)


def log_level_from(env: Mapping[str, str]) -> str:
    return (env.get("AVATAR_LOG_LEVEL") or DEFAULT_LOG_LEVEL).lower()


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
class ElevenLabsSettings:
    """ElevenLabs access (prefix ELEVENLABS_); without a key only local voices exist."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    model_id: str = "eleven_flash_v2_5"
    optimize_streaming_latency: int | None = None
    request_timeout_s: float = 30.0
    stall_timeout_s: float = 10.0
    max_retries: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ElevenLabsSettings:
        latency = env.get("ELEVENLABS_OPTIMIZE_STREAMING_LATENCY", "")
        return cls(
            api_key=env.get("ELEVENLABS_API_KEY") or None,
            base_url=env.get("ELEVENLABS_BASE_URL") or None,
            model_id=env.get("ELEVENLABS_MODEL_ID", cls.model_id),
            optimize_streaming_latency=int(latency) if latency else None,
            request_timeout_s=float(env.get("ELEVENLABS_TIMEOUT_S", cls.request_timeout_s)),
            stall_timeout_s=float(env.get("ELEVENLABS_STALL_TIMEOUT_S", cls.stall_timeout_s)),
            max_retries=int(env.get("ELEVENLABS_MAX_RETRIES", cls.max_retries)),
        )


@dataclass(frozen=True)
class AvatarSettings:
    """Avatar uploads and preparation (gateway, avatars stage and CLI share these)."""

    upload_max_bytes: int = 64 * 1024 * 1024  # the gateway's AVATAR_MAX_BODY_BYTES caps it too
    max_pixels: int = 40_000_000  # source width x height, checked from the headers
    max_duration_s: float = 10.0  # longer videos are trimmed to this
    max_side: int = 1280  # stored frames' long side
    pads: tuple[int, int, int, int] = (0, 10, 0, 0)  # top, bottom, left, right (Wav2Lip --pads)
    cache_size: int = 4  # avatars a lip-sync worker keeps in memory

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AvatarSettings:
        pads = tuple(int(p) for p in env.get("AVATAR_PADS", "0,10,0,0").split(","))
        if len(pads) != 4:
            raise ValueError("AVATAR_PADS must be four integers: top,bottom,left,right")
        return cls(
            upload_max_bytes=int(env.get("AVATAR_UPLOAD_MAX_BYTES", cls.upload_max_bytes)),
            max_pixels=int(env.get("AVATAR_MAX_PIXELS", cls.max_pixels)),
            max_duration_s=float(env.get("AVATAR_MAX_DURATION_S", cls.max_duration_s)),
            max_side=int(env.get("AVATAR_MAX_SIDE", cls.max_side)),
            pads=(pads[0], pads[1], pads[2], pads[3]),
            cache_size=int(env.get("AVATAR_CACHE_SIZE", cls.cache_size)),
        )
