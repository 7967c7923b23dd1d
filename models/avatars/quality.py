"""How good an avatar's source is: one report, measured once at preparation.

Fatal problems (no face, several faces, a face too small) stop preparation;
the rest become warnings the user sees next to the avatar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

# Mesh indices for head pose: nose tip, chin, outer eye corners, mouth corners.
_POSE_POINTS = (1, 152, 33, 263, 61, 291)
# A generic face in millimetres (x right, y up, z toward the camera), same order.
_POSE_MODEL = np.array([(0.0, 0.0, 0.0), (0.0, -63.6, -12.5), (-43.3, 32.7, -26.0), (43.3, 32.7, -26.0),
                        (-28.9, -28.9, -24.1), (28.9, -28.9, -24.1)], np.float64)
SHARPNESS_PX = 128  # faces are resized to this before measuring sharpness, so size does not count


@dataclass(frozen=True)
class QualityLimits:
    min_face_share: float = 0.5  # below: unusable (face found in too few frames)
    max_multi_face_share: float = 0.5  # above: unusable (several faces in most frames)
    min_face_px: int = 48  # median face side below this: unusable
    warn_one_face_share: float = 0.9
    warn_face_px: int = 80
    warn_sharpness: float = 30.0
    warn_yaw_range_deg: float = 40.0
    warn_pitch_range_deg: float = 30.0
    warn_dark: float = 50.0
    warn_bright: float = 215.0
    warn_contrast: float = 20.0


@dataclass(frozen=True)
class FrameQuality:
    """Measurements of one frame's tracked face (NaN where no face)."""

    faces: int
    face_px: float = float("nan")
    sharpness: float = float("nan")
    brightness: float = float("nan")
    contrast: float = float("nan")
    yaw_deg: float = float("nan")
    pitch_deg: float = float("nan")


@dataclass(frozen=True)
class QualityReport:
    frames: int
    one_face_share: float  # frames with exactly one face
    multi_face_share: float
    no_face_share: float
    median_face_px: float  # shorter side of the face box
    sharpness: float  # median variance of the Laplacian on the face at SHARPNESS_PX
    brightness: float  # median mean grey level of the face, 0..255
    contrast: float  # median grey-level standard deviation on the face
    yaw_range_deg: float
    pitch_range_deg: float
    verdict: Literal["good", "warning", "unusable"]
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> QualityReport:
        return cls(**data)


def head_pose(points: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """(yaw, pitch) in degrees from (468, 2) mesh points, by PnP against a generic face."""
    import cv2

    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    image_pts = points[list(_POSE_POINTS)].astype(np.float64)
    ok, rvec, _ = cv2.solvePnP(_POSE_MODEL, image_pts, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return float("nan"), float("nan")
    rot, _ = cv2.Rodrigues(rvec)
    # The model's y points up and the image's down: flip before reading the angles.
    rot = np.diag([1.0, -1.0, -1.0]) @ rot
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    return float(yaw), float(pitch)


def measure_frame(image: np.ndarray, faces: int, box: tuple[int, int, int, int] | None,
                  points: np.ndarray | None) -> FrameQuality:
    """Sharpness, light and pose of the face in `box` (frame pixels) of an RGB frame."""
    import cv2

    if box is None or faces == 0:
        return FrameQuality(faces)
    x0, y0, x1, y1 = box
    face = image[max(0, y0):y1, max(0, x0):x1]
    if face.size == 0:
        return FrameQuality(faces)
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    fixed = cv2.resize(grey, (SHARPNESS_PX, SHARPNESS_PX), interpolation=cv2.INTER_AREA)
    yaw, pitch = head_pose(points, image.shape[1], image.shape[0]) if points is not None else (np.nan, np.nan)
    return FrameQuality(faces, face_px=float(min(x1 - x0, y1 - y0)),
                        sharpness=float(cv2.Laplacian(fixed, cv2.CV_64F).var()),
                        brightness=float(grey.mean()), contrast=float(grey.std()),
                        yaw_deg=yaw, pitch_deg=pitch)


def _median(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return round(float(np.median(finite)), 2) if finite else 0.0


def _spread(values: list[float]) -> float:
    """Range without the outer 5% at each end, so one bad mesh does not count."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return 0.0
    lo, hi = np.percentile(finite, [5, 95])
    return round(float(hi - lo), 2)


def build_report(per_frame: list[FrameQuality], limits: QualityLimits = QualityLimits()) -> QualityReport:
    n = max(1, len(per_frame))
    one = sum(q.faces == 1 for q in per_frame) / n
    multi = sum(q.faces > 1 for q in per_frame) / n
    none = sum(q.faces == 0 for q in per_frame) / n
    face_px = _median([q.face_px for q in per_frame])
    sharp = _median([q.sharpness for q in per_frame])
    bright = _median([q.brightness for q in per_frame])
    contrast = _median([q.contrast for q in per_frame])
    yaw = _spread([q.yaw_deg for q in per_frame])
    pitch = _spread([q.pitch_deg for q in per_frame])
    fatal: list[str] = []
    if 1 - none < limits.min_face_share:
        fatal.append("no face found" if none == 1 else f"a face was found in only {1 - none:.0%} of frames")
    if multi > limits.max_multi_face_share:
        fatal.append(f"several faces in {multi:.0%} of frames; upload one person only")
    if not fatal and face_px < limits.min_face_px:
        fatal.append(f"the face is too small ({face_px:.0f} px, at least {limits.min_face_px} px needed)")
    warnings: list[str] = []
    if not fatal:
        if one < limits.warn_one_face_share:
            warnings.append(f"exactly one face in only {one:.0%} of frames")
        if face_px < limits.warn_face_px:
            warnings.append(f"small face ({face_px:.0f} px); {limits.warn_face_px} px or more looks better")
        if sharp < limits.warn_sharpness:
            warnings.append(f"the face is blurry (sharpness {sharp:.0f})")
        if yaw > limits.warn_yaw_range_deg or pitch > limits.warn_pitch_range_deg:
            warnings.append(f"the head turns a lot (yaw range {yaw:.0f}°, pitch range {pitch:.0f}°)")
        if bright < limits.warn_dark:
            warnings.append(f"the face is dark (brightness {bright:.0f})")
        elif bright > limits.warn_bright:
            warnings.append(f"the face is overexposed (brightness {bright:.0f})")
        if contrast < limits.warn_contrast:
            warnings.append(f"low contrast on the face ({contrast:.0f})")
    verdict: Literal["good", "warning", "unusable"] = "unusable" if fatal else "warning" if warnings else "good"
    return QualityReport(frames=len(per_frame), one_face_share=round(one, 4), multi_face_share=round(multi, 4),
                         no_face_share=round(none, 4), median_face_px=face_px, sharpness=sharp,
                         brightness=bright, contrast=contrast, yaw_range_deg=yaw, pitch_range_deg=pitch,
                         verdict=verdict, reasons=fatal or warnings)
