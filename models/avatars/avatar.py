"""The prepared avatar: frames plus per-frame face geometry, stored on disk.

Preparing an avatar (face detection) is slow and done once; the stored form is
plain .npy + JSON so loading needs neither MediaPipe nor pickles.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.avatars.face import FaceGeometry
from models.avatars.quality import QualityReport

logger = logging.getLogger(__name__)

_FRAMES_FILE = "frames.npy"
_MASKS_FILE = "masks.npy"
_META_FILE = "avatar.json"
SUMMARY_FILE = "summary.json"  # small: what listings read, without the per-frame geometry
THUMBNAIL_FILE = "thumbnail.jpg"
THUMBNAIL_PX = 256
_FORMAT_VERSION = 2


@dataclass
class Avatar:
    """Frames to loop while speaking, with the face geometry of each frame."""

    avatar_id: str
    name: str
    frames: np.ndarray  # (F, H, W, 3) uint8 RGB, H and W even (video encoders need even sizes)
    faces: list[FaceGeometry]  # one per frame
    fps: int = 25
    # (F, M, M) uint8 feathered mouth masks, each in its frame's FaceGeometry.crop resized to M x M.
    masks: np.ndarray | None = None
    quality: QualityReport | None = None
    source_kind: str = "photo"  # "photo" or "video"
    created_at: float | None = None  # unix seconds

    def __post_init__(self) -> None:
        f = self.frames
        if f.ndim != 4 or f.shape[3] != 3 or f.dtype != np.uint8 or f.shape[0] < 1:
            raise ValueError(f"frames must be (F, H, W, 3) uint8 with F >= 1, got {f.shape} {f.dtype}")
        if f.shape[1] % 2 or f.shape[2] % 2:
            raise ValueError(f"frame size must be even, got {f.shape[2]}x{f.shape[1]}")
        if len(self.faces) != f.shape[0]:
            raise ValueError(f"{len(self.faces)} face geometries for {f.shape[0]} frames")
        if self.masks is not None and (self.masks.ndim != 3 or len(self.masks) != f.shape[0]):
            raise ValueError(f"masks must be (F, M, M) with F = {f.shape[0]}, got {self.masks.shape}")

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def frame_index(self, global_frame: int) -> int:
        """Avatar frame for an output frame: ping-pong so a short clip loops without a jump."""
        n = self.frames.shape[0]
        if n == 1:
            return 0
        period = 2 * n - 2
        i = global_frame % period
        return i if i < n else period - i


@dataclass(frozen=True)
class AvatarSummary:
    """The avatar's record without its frames: what listings read, stored as summary.json."""

    avatar_id: str
    name: str
    fps: int
    frames: int
    width: int
    height: int
    source_kind: str  # "photo" or "video"
    created_at: float | None  # unix seconds
    quality: QualityReport | None

    @classmethod
    def of(cls, avatar: Avatar) -> AvatarSummary:
        return cls(avatar_id=avatar.avatar_id, name=avatar.name, fps=avatar.fps,
                   frames=int(avatar.frames.shape[0]), width=avatar.width, height=avatar.height,
                   source_kind=avatar.source_kind, created_at=avatar.created_at, quality=avatar.quality)

    def to_json(self) -> dict[str, Any]:
        return {
            "avatar_id": self.avatar_id,
            "name": self.name,
            "fps": self.fps,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "source_kind": self.source_kind,
            "created_at": self.created_at,
            "quality": None if self.quality is None else self.quality.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AvatarSummary:
        """Raises KeyError, TypeError or ValueError when a field is missing or malformed."""
        quality = data["quality"]
        return cls(avatar_id=data["avatar_id"], name=data["name"], fps=int(data["fps"]),
                   frames=int(data["frames"]), width=int(data["width"]), height=int(data["height"]),
                   source_kind=data["source_kind"], created_at=data["created_at"],
                   quality=None if quality is None else QualityReport.from_json(quality))


def _thumbnail_jpeg(avatar: Avatar) -> bytes:
    import cv2

    frame = avatar.frames[0]
    scale = min(1.0, THUMBNAIL_PX / max(frame.shape[:2]))
    if scale < 1.0:
        frame = cv2.resize(frame, (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("could not encode the thumbnail")
    return data.tobytes()


def save_avatar(avatar: Avatar, directory: Path) -> None:
    """Write the avatar to `directory`, atomically replacing any previous one.

    Files go to a sibling temp dir first, so readers never see a half-written avatar.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        np.save(tmp / _FRAMES_FILE, avatar.frames, allow_pickle=False)
        if avatar.masks is not None:
            np.save(tmp / _MASKS_FILE, avatar.masks, allow_pickle=False)
        summary = AvatarSummary.of(avatar).to_json()
        meta = {
            **summary,
            "version": _FORMAT_VERSION,
            "shape": list(avatar.frames.shape),
            "loop": "ping-pong",
            "faces": [face.to_json() for face in avatar.faces],
        }
        (tmp / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary), encoding="utf-8")
        (tmp / THUMBNAIL_FILE).write_bytes(_thumbnail_jpeg(avatar))
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".old", dir=directory.parent))
            os.replace(directory, old / "avatar")
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved avatar %r to %s", avatar.avatar_id, directory)


def load_avatar(directory: Path) -> Avatar:
    """Read an avatar written by :func:`save_avatar`."""
    directory = Path(directory)
    meta_path, frames_path = directory / _META_FILE, directory / _FRAMES_FILE
    for path in (meta_path, frames_path):
        if not path.is_file():
            raise FileNotFoundError(f"no avatar at {directory}: {path.name} is missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    frames = np.load(frames_path, allow_pickle=False)
    if list(frames.shape) != list(meta["shape"]):
        raise ValueError(f"avatar at {directory} is corrupt: frames {frames.shape} != {meta['shape']}")
    faces = [FaceGeometry.from_json(f) for f in meta["faces"]]
    masks_path = directory / _MASKS_FILE
    quality = meta.get("quality")
    return Avatar(avatar_id=meta["avatar_id"], name=meta["name"], frames=frames, faces=faces,
                  fps=int(meta.get("fps", 25)),
                  masks=np.load(masks_path, allow_pickle=False) if masks_path.is_file() else None,
                  quality=None if quality is None else QualityReport.from_json(quality),
                  source_kind=meta.get("source_kind", "photo"), created_at=meta.get("created_at"))
