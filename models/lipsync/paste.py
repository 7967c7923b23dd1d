"""Paste a generated face back into the frame without seams.

Wav2Lip returns the whole 96x96 face crop, re-synthesised and blurrier than the photo, in a
slightly different colour. Pasting the rectangle back shows its edges; instead only the lower
face (mouth and jaw, where the network changes anything) is blended in through a feathered
mask that is zero on the crop's border, after shifting the generated colours to match the
photo where the mask fades. Pixels outside the crop are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.avatars.face import FaceGeometry

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def face_crop(face: FaceGeometry, width: int, height: int, pads: Box = (0, 10, 0, 0)) -> Box:
    """The model's crop: the avatar's own when prepared, else the box with Wav2Lip's default
    pads (top, bottom, left, right = 0, 10, 0, 0), clipped to the frame."""
    if face.crop is not None:
        return face.crop
    x0, y0, x1, y1 = face.box
    top, bottom, left, right = pads
    return (max(0, x0 - left), max(0, y0 - top), min(width, x1 + right), min(height, y1 + bottom))


def blend_mask(face: FaceGeometry, crop: Box, feather_px: float | None = None) -> np.ndarray:
    """(h, w) float32 alpha in crop coordinates: 1 over mouth and chin, feathered to 0 well
    inside the crop's edges."""
    x0, y0, x1, y1 = crop
    h, w = y1 - y0, x1 - x0
    pts = np.concatenate([face.mouth, face.jaw]) if len(face.jaw) else face.mouth
    pts = pts - np.array([x0, y0], np.float32)
    mask = np.zeros((h, w), np.float32)
    if len(pts) >= 3:
        hull = cv2.convexHull(pts.astype(np.float32)).astype(np.int32)
        cv2.fillConvexPoly(mask, hull, 1.0)
    else:  # no landmarks: the lower half, as the model was trained to redraw
        mask[h // 2:] = 1.0
    feather = feather_px if feather_px is not None else max(2.0, 0.06 * min(h, w))
    sigma = feather / 2
    radius = int(np.ceil(4 * sigma))  # OpenCV's kernel reach for this sigma
    border = radius + 2
    inner = np.zeros_like(mask)
    inner[border:h - border, border:w - border] = 1.0
    mask *= inner  # the blurred mask then fades out before the crop's edge
    alpha = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), sigma)
    alpha[alpha < 1e-3] = 0.0
    return np.clip(alpha, 0.0, 1.0)


@dataclass(frozen=True)
class PastePlan:
    """Per avatar frame: where the generated crop goes and how it is blended."""

    crop: Box
    alpha: np.ndarray  # (h, w) float32
    ring: np.ndarray  # (h, w) float32 colour-matching weights where alpha fades


def plan_paste(face: FaceGeometry, width: int, height: int) -> PastePlan:
    crop = face_crop(face, width, height)
    alpha = blend_mask(face, crop)
    ring = alpha * (1.0 - alpha)
    return PastePlan(crop, alpha, ring / max(float(ring.sum()), 1e-6))


def paste(original: np.ndarray, generated: np.ndarray, plan: PastePlan) -> np.ndarray:
    """Blend ``generated`` (h, w, 3) uint8, already resized to the crop, into ``original``
    (h, w, 3) uint8 (the frame's crop); returns the new crop. Where alpha is 0 the result
    is ``original`` bit for bit."""
    orig = original.astype(np.float32)
    gen = generated.astype(np.float32)
    offset = np.tensordot(plan.ring, orig - gen, axes=([0, 1], [0, 1]))  # (3,) mean colour gap
    a = plan.alpha[..., None]
    out = orig + a * (np.clip(gen + offset, 0.0, 255.0) - orig)
    return np.where(a > 0, np.clip(out + 0.5, 0, 255), orig).astype(np.uint8)
