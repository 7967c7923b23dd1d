"""The size video frames are stored and encoded at: the source size, capped and even."""

from __future__ import annotations

import numpy as np


def output_size(width: int, height: int, max_side: int = 1280) -> tuple[int, int]:
    """(width, height) scaled down so the long side is at most ``max_side``, each side rounded
    and then made even (yuv420p) by dropping at most one pixel, so neither side grows."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


def scale_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, h, w, 3) at size (w, h); unchanged when it already fits."""
    import cv2

    if frames.shape[2] == size[0] and frames.shape[1] == size[1]:
        return frames
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
