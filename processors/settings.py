"""Worker settings, read from the environment once (prefix AVATAR_); the parts the gateway
shares come from core.settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_LOG_LEVEL,
    AvatarSettings,
    ElevenLabsSettings,
    KafkaSettings,
    data_dir_from,
    log_level_from,
)
from schemas.workers import STAGES

ALL_STAGES = STAGES


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
class WebhookSettings:
    """The webhooks stage: signing secret, retry schedule, timeouts and the SSRF allow list."""

    secret: str | None = None  # AVATAR_WEBHOOK_SECRET; without it deliveries go unsigned (a warning)
    retry_s: float = 3600.0  # how long a delivery is retried before it counts as failed
    backoff_s: float = 1.0  # the first retry's ceiling; doubles each attempt (full jitter below it)
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0  # per attempt
    allow_hosts: str = ""  # comma list of hosts and CIDRs exempt from the private-address check

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        settings = cls(
            secret=env.get("AVATAR_WEBHOOK_SECRET") or None,
            retry_s=float(env.get("AVATAR_WEBHOOK_RETRY_S", cls.retry_s)),
            backoff_s=float(env.get("AVATAR_WEBHOOK_BACKOFF_S", cls.backoff_s)),
            backoff_max_s=float(env.get("AVATAR_WEBHOOK_BACKOFF_MAX_S", cls.backoff_max_s)),
            timeout_s=float(env.get("AVATAR_WEBHOOK_TIMEOUT_S", cls.timeout_s)),
            allow_hosts=env.get("AVATAR_WEBHOOK_ALLOW_HOSTS", cls.allow_hosts),
        )
        if not (settings.retry_s >= 0 and settings.backoff_s > 0 and settings.timeout_s > 0
                and settings.backoff_max_s >= settings.backoff_s):
            raise ValueError("AVATAR_WEBHOOK_RETRY_S must be >= 0, AVATAR_WEBHOOK_BACKOFF_S and "
                             "AVATAR_WEBHOOK_TIMEOUT_S > 0, AVATAR_WEBHOOK_BACKOFF_MAX_S >= BACKOFF_S")
        return settings


@dataclass(frozen=True)
class WorkerSettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    data_dir: Path = DEFAULT_DATA_DIR
    stages: tuple[str, ...] = ALL_STAGES
    app_id: str = "avatar-stream"
    log_level: str = DEFAULT_LOG_LEVEL
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
    heartbeat_s: float = 2.0  # between this worker's heartbeats on the workers topic
    read_ahead: int = 1024  # records a scheduled stage may hold to serve them by deadline
    read_ahead_mb: int = 256  # and their bytes, in MiB
    lead_s: float = 10.0  # how far ahead of its viewer a job's records are made ("inf": no bound)
    metrics_port: int | None = 9464  # this worker's /metrics (0: any free port; None: not served)
    metrics_addr: str = "0.0.0.0"
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    audio_max_s: float = 600.0  # an audio job's longest file (the gateway checks too)
    # live jobs running at once across the workers (0: no limit); what one 2-core worker
    # kept in real time in `loadtest` on 2026-12-04 (4 were 2.2 s late behind a 2 s buffer)
    max_live_jobs: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        stages = tuple(s for s in env.get("AVATAR_STAGES", ",".join(ALL_STAGES)).split(",") if s)
        unknown = set(stages) - set(ALL_STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from {', '.join(ALL_STAGES)}")
        heartbeat_s = float(env.get("AVATAR_HEARTBEAT_S", cls.heartbeat_s))
        if heartbeat_s <= 0:
            raise ValueError("AVATAR_HEARTBEAT_S must be a positive number of seconds")
        read_ahead = int(env.get("AVATAR_READ_AHEAD", cls.read_ahead))
        read_ahead_mb = int(env.get("AVATAR_READ_AHEAD_MB", cls.read_ahead_mb))
        if read_ahead < 1 or read_ahead_mb < 1:
            raise ValueError("AVATAR_READ_AHEAD and AVATAR_READ_AHEAD_MB must be at least 1")
        max_live_jobs = int(env.get("AVATAR_MAX_LIVE_JOBS", cls.max_live_jobs))
        if max_live_jobs < 0:
            raise ValueError("AVATAR_MAX_LIVE_JOBS must be 0 (no limit) or more")
        lead_s = float(env.get("AVATAR_LEAD_S", cls.lead_s))
        if not lead_s > 0:
            raise ValueError("AVATAR_LEAD_S must be a positive number of seconds (or inf)")
        return cls(
            metrics_port=_metrics_port(env.get("AVATAR_METRICS_PORT", str(cls.metrics_port))),
            metrics_addr=env.get("AVATAR_METRICS_ADDR", cls.metrics_addr),
            kafka=KafkaSettings.from_env(env),
            data_dir=data_dir_from(env),
            stages=stages,
            app_id=env.get("AVATAR_APP_ID", cls.app_id),
            log_level=log_level_from(env),
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
            heartbeat_s=heartbeat_s,
            read_ahead=read_ahead,
            read_ahead_mb=read_ahead_mb,
            lead_s=lead_s,
            webhooks=WebhookSettings.from_env(env),
            audio_max_s=float(env.get("AVATAR_AUDIO_MAX_S", cls.audio_max_s)),
            max_live_jobs=max_live_jobs,
        )


def _metrics_port(raw: str) -> int | None:
    if raw.strip().lower() in ("off", "none", ""):
        return None
    if not raw.strip().isdigit() or int(raw) > 65535:
        raise ValueError(f"AVATAR_METRICS_PORT must be a port (0 for any free one) or off, not {raw!r}")
    return int(raw)
