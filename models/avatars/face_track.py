"""Faces through a clip: detection and mesh on every frame, then zero-phase smoothing.

One `FaceTracker` keeps its MediaPipe graphs for a whole clip (building them
costs more than running them). Per frame, the full-range detector counts faces
and the mesh runs on a fixed-size crop around the largest one, which keeps the
mesh fast at any resolution. Smoothing is a centred Gaussian over time: it
removes detector jitter without the lag a causal filter adds to head motion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np

logger = logging.getLogger(__name__)

MESH_INPUT_PX = 256  # the mesh sees the face crop at this size, whatever the frame size


@dataclass(frozen=True)
class FaceObservation:
    """What one frame showed: how many faces, and the tracked face's mesh if found."""

    faces: int
    points: np.ndarray | None  # (468, 2) float32 mesh landmarks in frame pixels


class FaceTracker:
    """MediaPipe detector + mesh kept open for a clip; call `close()` (or use `with`)."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        self._solutions = mp.solutions
        self._confidence = min_confidence
        self._far = self._solutions.face_detection.FaceDetection(model_selection=1,
                                                                 min_detection_confidence=min_confidence)
        self._near: Any = None  # built on the first frame the far model finds nothing in
        # Video mode: the mesh tracks from its last landmarks instead of re-detecting in every crop.
        self._mesh = self._solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                        refine_landmarks=False, min_detection_confidence=min_confidence)
        self._last_box: tuple[float, float, float, float] | None = None

    def close(self) -> None:
        for graph in (self._far, self._near, self._mesh):
            if graph is not None:
                graph.close()

    def _near_model(self) -> Any:
        if self._near is None:
            self._near = self._solutions.face_detection.FaceDetection(model_selection=0,
                                                                      min_detection_confidence=self._confidence)
        return self._near

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _detect(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        h, w = image.shape[:2]
        for near in (False, True):  # the near model finds close-ups the far one misses
            result = (self._near_model() if near else self._far).process(image)
            boxes = []
            for det in result.detections or []:
                rb = det.location_data.relative_bounding_box
                boxes.append((rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h))
            if boxes:
                return boxes
        return []

    def _mesh_in(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Mesh on a square crop (twice the face) warped to MESH_INPUT_PX; points back in frame pixels."""
        import cv2

        x0, y0, x1, y1 = box
        side = 2.0 * max(x1 - x0, y1 - y0, 8.0)
        scale = MESH_INPUT_PX / side
        left, top = (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2
        warp = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float32)
        crop = cv2.warpAffine(image, warp, (MESH_INPUT_PX, MESH_INPUT_PX), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        lms = result.multi_face_landmarks[0].landmark
        points = np.array([(lm.x, lm.y) for lm in lms], np.float32) * (MESH_INPUT_PX / scale)
        return points + np.array([left, top], np.float32)

    def observe(self, image: np.ndarray) -> FaceObservation:
        """One (H, W, 3) uint8 RGB frame; frames must come in clip order."""
        boxes = self._detect(image)
        if boxes:
            box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        elif self._last_box is not None:
            box = self._last_box  # a missed detection: the mesh may still find the face where it was
        else:
            return FaceObservation(0, None)
        points = self._mesh_in(image, box)
        if points is not None:
            lo, hi = points.min(axis=0), points.max(axis=0)
            self._last_box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        return FaceObservation(len(boxes) or (1 if points is not None else 0), points)


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(F, ...) series with missing frames linearly interpolated from their neighbours."""
    if not valid.any():
        raise ValueError("no valid frame to fill from")
    flat = values.reshape(len(values), -1).astype(np.float64)
    frames = np.arange(len(values))
    out = np.empty_like(flat)
    for k in range(flat.shape[1]):
        out[:, k] = np.interp(frames, frames[valid], flat[valid, k])
    return out.reshape(values.shape)


def smooth(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """(F, ...) series smoothed over time by a centred Gaussian: zero phase, so no lag.

    Edges are extended by point reflection (as filtfilt does), so a head moving
    at the first or last frame keeps its trend instead of being pulled back.
    """
    if sigma_frames <= 0 or len(values) < 3:
        return values.astype(np.float64)
    radius = int(np.ceil(3 * sigma_frames))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    taps /= taps.sum()
    flat = values.reshape(len(values), -1).astype(np.float64)
    if len(values) > radius:
        head = 2 * flat[:1] - flat[radius:0:-1]
        tail = 2 * flat[-1:] - flat[-2:-radius - 2:-1]
        padded = np.concatenate([head, flat, tail])
    else:
        padded = np.pad(flat, ((radius, radius), (0, 0)), mode="edge")
    out = np.stack([np.convolve(padded[:, k], taps, mode="valid") for k in range(flat.shape[1])], axis=1)
    return out.reshape(values.shape)
