"""Gateway settings, read from the environment once (prefix AVATAR_); the parts the workers
share come from core.settings."""

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
from core.webhook_targets import AllowList, WebhookTargetError, host_of
from schemas.sessions import MAX_IDLE_S
from schemas.workers import STAGES

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _key_hashes(env: Mapping[str, str], admin: bool = False) -> frozenset[str]:
    """sha256 hex digests of the accepted API keys (or of the admin keys), from the variable
    and/or a file (one a line)."""
    raw = env.get("AVATAR_ADMIN_KEYS", "") if admin else env.get("AVATAR_API_KEYS", "")
    items = raw.replace("\n", ",").split(",")
    path = env.get("AVATAR_ADMIN_KEYS_FILE") if admin else env.get("AVATAR_API_KEYS_FILE")
    if path:
        items += Path(path).read_text().splitlines()
    return frozenset(i.strip().lower() for i in items if i.strip() and not i.strip().startswith("#"))


def _stages(value: str | None) -> tuple[str, ...]:
    if value is None:
        return STAGES
    stages = tuple(s.strip() for s in value.split(",") if s.strip())
    if unknown := set(stages) - set(STAGES):
        raise ValueError(f"AVATAR_EXPECTED_STAGES: unknown stages {sorted(unknown)}; "
                         f"choose from {', '.join(STAGES)}")
    return stages


def _webhook_urls(raw: str) -> tuple[tuple[str, str], ...]:
    """AVATAR_WEBHOOK_URLS: `key_sha256=url` items, comma or newline separated."""
    pairs = []
    for item in (i.strip() for i in raw.replace("\n", ",").split(",")):
        if not item:
            continue
        digest, sep, url = item.partition("=")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("AVATAR_WEBHOOK_URLS: each item is <sha256 hex of an API key>=<url>")
        try:
            host_of(url.strip())
        except WebhookTargetError as exc:
            raise ValueError(f"AVATAR_WEBHOOK_URLS: {exc}") from None
        pairs.append((digest, url.strip()))
    return tuple(pairs)


@dataclass(frozen=True)
class Prices:
    """What work costs, for the usage's cost estimate (all 0 by default: no estimate)."""

    currency: str = "USD"
    cpu_hour: float = 0.0
    gpu_hour: float = 0.0
    tts_1k_chars: tuple[tuple[str, float], ...] = ()  # (provider, price per 1000 characters)
    video_minute: float = 0.0
    gb_streamed: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Prices:
        tts = []
        for item in env.get("AVATAR_PRICE_TTS_1K_CHARS", "").split(","):
            if item.strip():
                provider, sep, price = item.partition("=")
                if not sep or not provider.strip():
                    raise ValueError(f"AVATAR_PRICE_TTS_1K_CHARS: {item!r} is not provider=price")
                tts.append((provider.strip(), _price("AVATAR_PRICE_TTS_1K_CHARS", price)))
        return cls(currency=env.get("AVATAR_PRICE_CURRENCY", cls.currency),
                   cpu_hour=_price("AVATAR_PRICE_CPU_HOUR", env.get("AVATAR_PRICE_CPU_HOUR", "0")),
                   gpu_hour=_price("AVATAR_PRICE_GPU_HOUR", env.get("AVATAR_PRICE_GPU_HOUR", "0")),
                   tts_1k_chars=tuple(tts),
                   video_minute=_price("AVATAR_PRICE_VIDEO_MINUTE", env.get("AVATAR_PRICE_VIDEO_MINUTE", "0")),
                   gb_streamed=_price("AVATAR_PRICE_GB_STREAMED", env.get("AVATAR_PRICE_GB_STREAMED", "0")))


def _price(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw.strip()!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite price of 0 or more, not {raw.strip()!r}")
    return value


@dataclass(frozen=True)
class GatewaySettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = DEFAULT_LOG_LEVEL
    host: str = "127.0.0.1"
    port: int = 8000
    jobs_in_memory: int = 64
    avatars: AvatarSettings = field(default_factory=AvatarSettings)
    api_key_hashes: frozenset[str] = frozenset()
    dev_mode: bool = False
    rate_per_s: float = 5.0
    rate_burst: int = 60
    auth_failures_max: int = 10  # wrong API keys one client address may send per window...
    auth_failures_window_s: float = 60.0  # ...before it is answered 429 (0 turns it off)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024 * 1024
    ws_queue_bytes: int = 16 * 1024 * 1024
    ws_queue_messages: int = 1024
    ws_stall_s: float = 10.0
    stall_s: float = 10.0  # a queued or running job without progress this long shows `stalled`
    expected_stages: tuple[str, ...] = STAGES  # /health is degraded while one has no live worker
    elevenlabs: ElevenLabsSettings = field(default_factory=ElevenLabsSettings)
    prices: Prices = field(default_factory=Prices)
    min_free_mb: int = 1024  # below this much free space on the media volume, new work gets 507
    retention_hours: float = 720.0  # ended jobs' files and status are removed this long after (0: kept)
    retention_sweep_s: float = 600.0
    admin_key_hashes: frozenset[str] = frozenset()  # also in api_key_hashes; see streamer/tenants.py
    signing_secret: str | None = field(default=None, repr=False)  # tickets, signed URLs; None: random
    ticket_ttl_s: float = 60.0
    signed_url_ttl_s: float = 3600.0
    webhook_urls: tuple[tuple[str, str], ...] = ()  # (API key sha256, URL): a key's default webhook
    webhook_allow: AllowList = field(default_factory=AllowList)  # exempt from the private-address check
    audio_max_bytes: int = 100 * 1024 * 1024  # an audio job's upload; AVATAR_MAX_BODY_BYTES caps it too
    audio_max_s: float = 600.0  # and its duration
    session_idle_s: float = 300.0  # a live session without a `say` this long is closed

    @property
    def auth_required(self) -> bool:
        """Keys are checked unless none are configured and dev mode is on."""
        return bool(self.api_key_hashes) or not self.dev_mode

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        host = env.get("AVATAR_HOST", cls.host)
        admins = _key_hashes(env, admin=True)
        hashes = _key_hashes(env) | admins
        # Without keys, the embedded default serves loopback only: that is dev mode.
        dev_default = "1" if not hashes and host in LOOPBACK_HOSTS else "0"
        return cls(
            kafka=KafkaSettings.from_env(env),
            data_dir=data_dir_from(env),
            log_level=log_level_from(env),
            host=host,
            port=int(env.get("AVATAR_PORT", cls.port)),
            jobs_in_memory=int(env.get("AVATAR_JOBS_IN_MEMORY", cls.jobs_in_memory)),
            avatars=AvatarSettings.from_env(env),
            api_key_hashes=hashes,
            dev_mode=_truthy(env.get("AVATAR_DEV_MODE", dev_default)),
            rate_per_s=float(env.get("AVATAR_RATE_PER_S", cls.rate_per_s)),
            rate_burst=int(env.get("AVATAR_RATE_BURST", cls.rate_burst)),
            auth_failures_max=int(env.get("AVATAR_AUTH_FAILURES_MAX", cls.auth_failures_max)),
            auth_failures_window_s=float(env.get("AVATAR_AUTH_FAILURES_WINDOW_S",
                                                 cls.auth_failures_window_s)),
            cors_origins=tuple(o.strip() for o in env.get("AVATAR_CORS_ORIGINS", "").split(",") if o.strip()),
            max_body_bytes=int(env.get("AVATAR_MAX_BODY_BYTES", cls.max_body_bytes)),
            ws_queue_bytes=int(env.get("AVATAR_WS_QUEUE_BYTES", cls.ws_queue_bytes)),
            ws_queue_messages=int(env.get("AVATAR_WS_QUEUE_MESSAGES", cls.ws_queue_messages)),
            ws_stall_s=float(env.get("AVATAR_WS_STALL_S", cls.ws_stall_s)),
            stall_s=float(env.get("AVATAR_STALL_S", cls.stall_s)),
            expected_stages=_stages(env.get("AVATAR_EXPECTED_STAGES")),
            elevenlabs=ElevenLabsSettings.from_env(env),
            prices=Prices.from_env(env),
            min_free_mb=int(env.get("AVATAR_MIN_FREE_MB", cls.min_free_mb)),
            retention_hours=float(env.get("AVATAR_RETENTION_HOURS", cls.retention_hours)),
            retention_sweep_s=float(env.get("AVATAR_RETENTION_SWEEP_S", cls.retention_sweep_s)),
            admin_key_hashes=admins,
            signing_secret=env.get("AVATAR_SIGNING_SECRET") or None,
            ticket_ttl_s=float(env.get("AVATAR_TICKET_TTL_S", cls.ticket_ttl_s)),
            signed_url_ttl_s=float(env.get("AVATAR_SIGNED_URL_TTL_S", cls.signed_url_ttl_s)),
            webhook_urls=_webhook_urls(env.get("AVATAR_WEBHOOK_URLS", "")),
            webhook_allow=AllowList.parse(env.get("AVATAR_WEBHOOK_ALLOW_HOSTS", "")),
            audio_max_bytes=int(env.get("AVATAR_AUDIO_MAX_BYTES", cls.audio_max_bytes)),
            audio_max_s=float(env.get("AVATAR_AUDIO_MAX_S", cls.audio_max_s)),
            session_idle_s=_session_idle_s(env.get("AVATAR_SESSION_IDLE_S", str(cls.session_idle_s))),
        )


def _session_idle_s(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= MAX_IDLE_S:
        raise ValueError(f"AVATAR_SESSION_IDLE_S must be a number of seconds in (0, {MAX_IDLE_S}]")
    return value
