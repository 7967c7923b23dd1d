"""The sample avatar (a public-domain photo) and a talking-head-like clip with known head motion made from it.

The clip serves the avatar bench and tests: the photo is moved and scaled over time by
known affine maps, so where the face must be in every frame is known exactly.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from models.avatars.avatar import Avatar
from models.avatars.prep import prepare_frames

SAMPLE_AVATAR_ID = "astronaut"
SAMPLE_AVATAR_NAME = "Astronaut"


def sample_image() -> np.ndarray:
    """The astronaut photo shipped with scikit-image (public domain, NASA)."""
    from skimage import data

    return data.astronaut()


def sample_avatar() -> Avatar:
    """The built-in demo avatar, so the project runs without user uploads.

    Made by the same preparation as uploads, so it has crops, masks and a quality report.
    """
    return prepare_frames(sample_image()[None], SAMPLE_AVATAR_ID, SAMPLE_AVATAR_NAME, source_kind="photo")


_FACE_CENTRE = (250.0, 150.0)  # roughly the astronaut's face centre in the 512 x 512 photo


def head_motion(n_frames: int, fps: int, width: int, height: int) -> np.ndarray:
    """(F, 2, 3) float64 maps from photo pixels to frame pixels: sway, nod and a slow zoom."""
    t = np.arange(n_frames) / fps
    base = 0.9 * min(width, height) / 512
    scale = base * (1.0 + 0.12 * np.sin(2 * np.pi * t / 4.0))
    cx = width / 2 + 0.08 * width * np.sin(2 * np.pi * t / 2.5)
    cy = height / 2 + 0.05 * height * np.sin(2 * np.pi * t / 1.7 + 1.0)
    maps = np.zeros((n_frames, 2, 3))
    maps[:, 0, 0] = maps[:, 1, 1] = scale
    maps[:, 0, 2] = cx - scale * _FACE_CENTRE[0]
    maps[:, 1, 2] = cy - scale * _FACE_CENTRE[1]
    return maps


def render_frames(maps: np.ndarray, width: int, height: int) -> np.ndarray:
    """(F, H, W, 3) uint8 RGB: the photo under each map, on a grey background."""
    import cv2

    photo = sample_image()
    return np.stack([cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(96, 96, 96)) for m in maps])


def write_clip(path: Path, frames: np.ndarray, fps: int, codec: str = "libx264") -> None:
    """Encode RGB frames as H.264 (yuv420p) in the container the suffix names."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "veryfast", "crf": "20"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i  # in stream.time_base: one tick per frame
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_clip(path: Path, seconds: float = 2.0, width: int = 640, height: int = 480, fps: int = 25) -> np.ndarray:
    """Write the moving-head clip to `path`; returns its (F, 2, 3) photo-to-frame maps."""
    maps = head_motion(round(seconds * fps), fps, width, height)
    write_clip(path, render_frames(maps, width, height), fps)
    return maps
