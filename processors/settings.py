"""Worker settings, read from the environment once (prefix AVATAR_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.topics import TopicNames

ALL_STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler", "avatars")


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


@dataclass(frozen=True)
class LipsyncSettings:
    """Lip sync and encoding; without a checkpoint the weight-free animator runs."""

    wav2lip_checkpoint: Path | None = None  # official wav2lip.pth / wav2lip_gan.pth
    precision: str = "auto"  # auto (fp16 on CUDA, bf16 on CPUs with native bf16), fp32, bf16, fp16
    max_batch_frames: int = 16  # frames per forward pass
    batch_window_s: float = 0.02  # how long the stage waits to batch chunks of other jobs
    video_max_side: int = 1280  # output long side cap; the avatar's own size when smaller
    video_crf: int = 23
    video_preset: str = "veryfast"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LipsyncSettings:
        checkpoint = env.get("AVATAR_WAV2LIP_CHECKPOINT") or env.get("WAV2LIP_CHECKPOINT")
        return cls(
            wav2lip_checkpoint=Path(checkpoint) if checkpoint else None,
            precision=env.get("AVATAR_LIPSYNC_PRECISION", cls.precision),
            max_batch_frames=int(env.get("AVATAR_LIPSYNC_BATCH_FRAMES", cls.max_batch_frames)),
            batch_window_s=float(env.get("AVATAR_LIPSYNC_BATCH_WINDOW_S", cls.batch_window_s)),
            video_max_side=int(env.get("AVATAR_VIDEO_MAX_SIDE", cls.video_max_side)),
            video_crf=int(env.get("AVATAR_VIDEO_CRF", cls.video_crf)),
            video_preset=env.get("AVATAR_VIDEO_PRESET", cls.video_preset),
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
    avatars: AvatarSettings = field(default_factory=AvatarSettings)
    max_script_chars: int = 20_000
    tts_context_before_s: float = 0.2
    tts_context_after_s: float = 0.25
    elevenlabs: ElevenLabsSettings = field(default_factory=ElevenLabsSettings)
    lipsync: LipsyncSettings = field(default_factory=LipsyncSettings)

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
            avatars=AvatarSettings.from_env(env),
            max_script_chars=int(env.get("AVATAR_MAX_SCRIPT_CHARS", cls.max_script_chars)),
            tts_context_before_s=float(env.get("AVATAR_TTS_CONTEXT_BEFORE_S", cls.tts_context_before_s)),
            tts_context_after_s=float(env.get("AVATAR_TTS_CONTEXT_AFTER_S", cls.tts_context_after_s)),
            elevenlabs=ElevenLabsSettings.from_env(env),
            lipsync=LipsyncSettings.from_env(env),
        )
