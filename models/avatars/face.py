"""Face detection and mouth/jaw landmarks on an RGB photo, via MediaPipe.

MediaPipe is imported and its graphs are built inside :func:`detect_face`, so
importing this module costs nothing; avatar preparation is offline and rare,
so a fresh (thread-safe) graph per call is simpler than sharing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

# Face-mesh indices, each list ordered along its contour.
# Outer lip outline, starting at the left mouth corner (61) going along the lower lip.
OUTER_LIPS: tuple[int, ...] = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
)
# Inner lip outline (the line where the lips meet), same orientation as OUTER_LIPS.
INNER_LIPS: tuple[int, ...] = (
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324,
    308, 415, 310, 311, 312, 13, 82, 81, 80, 191,
)
# Lower half of the face oval, cheek to cheek through the chin (152).
JAW: tuple[int, ...] = (
    323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93,
)
# Within OUTER_LIPS / INNER_LIPS: indices 0..10 are the lower lip (corner to corner),
# 10..19 + 0 the upper lip.
LOWER_LIP_SLICE = slice(0, 11)


def _empty_points() -> np.ndarray:
    return np.zeros((0, 2), np.float32)


@dataclass(frozen=True)
class FaceGeometry:
    """Where the face and its mouth are in one image, in pixel coordinates."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    mouth: np.ndarray  # (20, 2) float32 outer lip outline, ordered as OUTER_LIPS
    jaw: np.ndarray  # (19, 2) float32 lower face oval, ordered as JAW
    inner_mouth: np.ndarray = field(default_factory=_empty_points)  # (20, 2) as INNER_LIPS
    # Wav2Lip-style crop: the box grown by the avatar's pads, clipped to the frame (x0, y0, x1, y1).
    crop: tuple[int, int, int, int] | None = None

    def to_json(self) -> dict:
        """Plain-JSON form, so avatars can be stored without pickles."""
        data: dict = {
            "box": list(self.box),
            "mouth": self.mouth.tolist(),
            "jaw": self.jaw.tolist(),
            "inner_mouth": self.inner_mouth.tolist(),
        }
        if self.crop is not None:
            data["crop"] = list(self.crop)
        return data

    @classmethod
    def from_json(cls, data: dict) -> FaceGeometry:
        def pts(key: str) -> np.ndarray:
            return np.asarray(data.get(key, []), np.float32).reshape(-1, 2)

        x0, y0, x1, y1 = (int(v) for v in data["box"])
        crop = data.get("crop")
        return cls(box=(x0, y0, x1, y1), mouth=pts("mouth"), jaw=pts("jaw"),
                   inner_mouth=pts("inner_mouth"),
                   crop=None if crop is None else (int(crop[0]), int(crop[1]), int(crop[2]), int(crop[3])))


class FaceNotFoundError(ValueError):
    """The image has no detectable face (or no usable landmarks on it)."""


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got {getattr(image, 'shape', type(image))}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    return np.ascontiguousarray(image)


def _detect_boxes(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Face boxes (x0, y0, x1, y1) in pixels from both the short- and full-range models.

    Each model misses faces the other finds (close-ups vs. small faces); duplicates are
    harmless because only the largest box is used.
    """
    import mediapipe as mp

    h, w = image.shape[:2]
    boxes = []
    for model_selection in (0, 1):
        with mp.solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=0.5
        ) as detector:
            result = detector.process(image)
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            boxes.append((rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h))
    return boxes


def _mesh_points(image: np.ndarray) -> np.ndarray | None:
    """(468, 2) pixel landmarks of the single face in `image`, or None."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5
    ) as mesh:
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        return None
    h, w = image.shape[:2]
    lms = result.multi_face_landmarks[0].landmark
    return np.array([(lm.x * w, lm.y * h) for lm in lms], np.float32)


def detect_face(image: np.ndarray) -> FaceGeometry:
    """Find the largest face in an (H, W, 3) uint8 RGB image and its lip/jaw landmarks.

    The mesh runs on a crop around the largest detection, so with several faces
    the landmarks belong to the same face as the box, and small faces get more pixels.
    """
    image = _check_image(image)
    h, w = image.shape[:2]
    boxes = _detect_boxes(image)
    if not boxes:
        raise FaceNotFoundError("no face detected in the image")
    bx0, by0, bx1, by1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    # Square crop with generous margin: the mesh's own detector wants context around the face.
    side = 2.0 * max(bx1 - bx0, by1 - by0)
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    cx0, cy0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    cx1, cy1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    points = _mesh_points(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]))
    if points is not None:
        points += np.array([cx0, cy0], np.float32)
    else:
        points = _mesh_points(image)
    if points is None:
        raise FaceNotFoundError("a face was detected but its landmarks could not be found")
    lx0, ly0 = points.min(axis=0)
    lx1, ly1 = points.max(axis=0)
    box = (
        int(max(0, np.floor(min(bx0, lx0)))),
        int(max(0, np.floor(min(by0, ly0)))),
        int(min(w, np.ceil(max(bx1, lx1)))),
        int(min(h, np.ceil(max(by1, ly1)))),
    )
    logger.debug("face box %s from %d detection(s)", box, len(boxes))
    return FaceGeometry(
        box=box,
        mouth=points[list(OUTER_LIPS)].copy(),
        jaw=points[list(JAW)].copy(),
        inner_mouth=points[list(INNER_LIPS)].copy(),
    )
