"""Where the face and its mouth are in one frame: face-mesh landmark indices and FaceGeometry.

The landmarks come from MediaPipe's face mesh, run by face_track.py while an avatar
is prepared (prep.py); this module holds only the indices and the stored geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
