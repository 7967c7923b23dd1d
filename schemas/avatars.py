"""Avatar training on the avatars topic, and the avatar bodies of the HTTP API.

Progress travels on the status topic as ordinary StatusEvents with
`job_id = avatar_id` and `stage = "avatars"`: a training run is a job like any
other, so the gateway's job board, `GET /api/v1/status/{avatar_id}` and the
job list see it without a second status shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import AVATAR_ID_PATTERN, DEFAULT_TENANT, TENANT_PATTERN, Message, PlainText

AVATAR_STAGE = "avatars"
MAX_AVATAR_NAME_CHARS = 120


UPLOAD_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class AvatarTrainRequest(Message):
    """Keyed by avatar_id; the upload lies in the shared media store under `upload`."""

    avatar_id: str = Field(pattern=AVATAR_ID_PATTERN)
    name: PlainText = Field(min_length=1, max_length=MAX_AVATAR_NAME_CHARS)
    upload: str = Field(pattern=UPLOAD_NAME_PATTERN, description="file name in the store's uploads")
    size_bytes: int = Field(ge=0)
    submitted_at: float | None = None
    tenant: str = Field(DEFAULT_TENANT, pattern=TENANT_PATTERN)
    webhook_url: str | None = Field(None, max_length=2048, description="where avatar.ready or "
                                    "avatar.failed is POSTed, signed (README: Webhooks)")


class AvatarQuality(Message):
    """Mirrors models.avatars.quality.QualityReport."""

    frames: int
    one_face_share: float = Field(description="frames with exactly one face")
    multi_face_share: float
    no_face_share: float
    median_face_px: float = Field(description="shorter side of the face box, median over frames")
    sharpness: float = Field(description="variance of the Laplacian on the face at 128 px, median")
    brightness: float = Field(description="mean grey level of the face, 0..255, median")
    contrast: float = Field(description="grey-level standard deviation on the face, median")
    yaw_range_deg: float
    pitch_range_deg: float
    verdict: Literal["good", "warning", "unusable"]
    reasons: list[str] = Field(default_factory=list)


AvatarState = Literal["queued", "running", "ready", "failed"]


class AvatarRecord(Message):
    avatar_id: str
    name: str | None = None
    state: AvatarState
    progress: float = 0.0
    message: str | None = None
    error: str | None = None
    source_kind: Literal["photo", "video"] | None = None
    fps: int | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    created_at: float | None = None
    quality: AvatarQuality | None = None
    thumbnail_url: str | None = None
    tenant: str | None = Field(DEFAULT_TENANT, description="the owner; null for a shared (built-in) avatar")


class AvatarTrainResponse(Message):
    avatar_id: str
    state: AvatarState
    status_url: str


class AvatarPage(Message):
    items: list[AvatarRecord]
    total: int
    offset: int
    limit: int
