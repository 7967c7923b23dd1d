"""An upload becomes an avatar: frames, tracked faces, crops, mouth masks, quality.

Everything the lip-sync stage needs per frame is computed here once, so no job
repeats it. Unusable sources raise UnusableMediaError with the reasons.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.avatars.avatar import Avatar
from models.avatars.face import INNER_LIPS, JAW, OUTER_LIPS, FaceGeometry
from models.avatars.face_track import FaceObservation, FaceTracker, fill_gaps, smooth
from models.avatars.media_read import MediaInfo, UnusableMediaError, probe_media, read_frames
from models.avatars.quality import QualityLimits, QualityReport, build_report, measure_frame

logger = logging.getLogger(__name__)

MASK_PX = 96  # masks are stored at Wav2Lip's face size, in crop coordinates
_CHIN = JAW[4:15]  # the part of the jaw that moves with speech
Progress = Callable[[float], None]


@dataclass(frozen=True)
class PrepSettings:
    fps: int = 25
    max_duration_s: float = 10.0  # longer videos are trimmed
    max_side: int = 1280  # frames are stored with the long side at most this
    max_pixels: int = 40_000_000  # source picture size above this is refused before decoding
    pads: tuple[int, int, int, int] = (0, 10, 0, 0)  # top, bottom, left, right, as Wav2Lip's --pads
    smooth_sigma_frames: float = 1.5
    limits: QualityLimits = field(default_factory=QualityLimits)


class UnusableAvatarError(UnusableMediaError):
    """The media decoded but cannot be an avatar; carries the quality report that says why."""

    def __init__(self, report: QualityReport) -> None:
        super().__init__("; ".join(report.reasons))
        self.report = report


def _crop(box: tuple[int, int, int, int], pads: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int]:
    top, bottom, left, right = pads
    x0, y0, x1, y1 = box
    return max(0, x0 - left), max(0, y0 - top), min(w, x1 + right), min(h, y1 + bottom)


def mouth_mask(points: np.ndarray, crop: tuple[int, int, int, int], size_px: int = MASK_PX) -> np.ndarray:
    """(size, size) uint8 feathered mask of mouth and chin, in the crop resized to size x size.

    The hull of the lips and the chin, grown and blurred by a fraction of the
    mouth width, so a pasted mouth fades into the original skin.
    """
    import cv2

    x0, y0, x1, y1 = crop
    scale = np.array([size_px / max(1, x1 - x0), size_px / max(1, y1 - y0)], np.float32)
    local = (points - np.array([x0, y0], np.float32)) * scale
    lips = local[list(OUTER_LIPS)]
    hull = cv2.convexHull(np.concatenate([lips, local[list(_CHIN)]]).astype(np.float32))
    mask = np.zeros((size_px, size_px), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255, lineType=cv2.LINE_AA)
    mouth_w = float(np.ptp(lips[:, 0]))
    grow = max(1, round(0.15 * mouth_w))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=max(1.0, 0.12 * mouth_w))


def _track(frames: Iterable[np.ndarray], total: int, progress: Progress | None) -> list[FaceObservation]:
    out: list[FaceObservation] = []
    with FaceTracker() as tracker:
        for i, frame in enumerate(frames):
            out.append(tracker.observe(frame))
            if progress is not None and (i + 1) % 25 == 0:
                progress(min(1.0, (i + 1) / total))
    return out


class _Pipe:
    """Frames from a decoding thread to the tracker, at most `depth` in flight."""

    _END = object()

    def __init__(self, depth: int = 16) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self.abandoned = threading.Event()

    def _offer(self, item: object) -> bool:
        """Blocks while full; False once the tracker has given up (so the decoder never hangs)."""
        while not self.abandoned.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def put(self, frame: np.ndarray) -> None:
        if not self._offer(frame):
            raise RuntimeError("the tracker stopped reading")

    def close(self) -> None:
        self._offer(self._END)

    def __iter__(self) -> Iterator[np.ndarray]:
        while (item := self._queue.get()) is not self._END:
            yield item  # type: ignore[misc]


def prepare_frames(frames: np.ndarray, avatar_id: str, name: str, settings: PrepSettings = PrepSettings(),
                   source_kind: str = "video", progress: Progress | None = None,
                   observations: list[FaceObservation] | None = None) -> Avatar:
    """An avatar from (F, H, W, 3) uint8 RGB frames (even sizes) at settings.fps.

    `observations` are the frames' faces when already tracked (prepare_file does so while decoding).
    """
    n, h, w = frames.shape[:3]
    if observations is None:
        observations = _track(frames, n, progress)
    valid = np.array([o.points is not None for o in observations])
    if not valid.any():
        report = build_report([measure_frame(f, o.faces, None, None) for f, o in zip(frames, observations)],
                              settings.limits)
        if report.verdict != "unusable":  # faces detected, yet no landmarks anywhere
            report = QualityReport(**{**report.to_json(), "verdict": "unusable",
                                      "reasons": ["a face was detected but its landmarks could not be found"]})
        raise UnusableAvatarError(report)
    raw = np.stack([o.points if o.points is not None else np.zeros((468, 2), np.float32) for o in observations])
    points = smooth(fill_gaps(raw, valid), settings.smooth_sigma_frames).astype(np.float32)  # (F, 468, 2)
    lo, hi = np.floor(points.min(axis=1)), np.ceil(points.max(axis=1))  # (F, 2) each
    faces, masks, measures = [], [], []
    for i in range(n):
        box = (int(max(0, lo[i, 0])), int(max(0, lo[i, 1])), int(min(w, hi[i, 0])), int(min(h, hi[i, 1])))
        crop = _crop(box, settings.pads, w, h)
        p = points[i]
        faces.append(FaceGeometry(box=box, mouth=p[list(OUTER_LIPS)].copy(), jaw=p[list(JAW)].copy(),
                                  inner_mouth=p[list(INNER_LIPS)].copy(), crop=crop))
        masks.append(mouth_mask(p, crop))
        obs = observations[i]
        measures.append(measure_frame(frames[i], obs.faces, box if obs.faces else None, obs.points))
    report = build_report(measures, settings.limits)
    if report.verdict == "unusable":
        raise UnusableAvatarError(report)
    logger.info("prepared avatar %r: %d frame(s), verdict %s %s", avatar_id, n, report.verdict, report.reasons)
    return Avatar(avatar_id=avatar_id, name=name, frames=np.ascontiguousarray(frames), faces=faces,
                  fps=settings.fps, masks=np.stack(masks), quality=report, source_kind=source_kind,
                  created_at=time.time())


def prepare_file(path: Path, avatar_id: str, name: str, settings: PrepSettings = PrepSettings(),
                 progress: Progress | None = None) -> Avatar:
    """An avatar from an uploaded video or photo; the type comes from decoding, not the name."""

    def part(start: float, span: float) -> Progress | None:
        return None if progress is None else (lambda f: progress(start + span * f))

    pipe = _Pipe()
    decoded: list[tuple[MediaInfo, np.ndarray]] = []
    failure: list[BaseException] = []

    def decode() -> None:
        try:
            decoded.append(read_frames(path, fps=settings.fps, max_duration_s=settings.max_duration_s,
                                       max_side=settings.max_side, max_pixels=settings.max_pixels,
                                       on_frame=pipe.put))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failure.append(exc)
        finally:
            pipe.close()

    probed = probe_media(path, settings.max_pixels)  # headers only: for progress, and to fail fast
    limit = 1 if probed.kind == "photo" else max(1, round(settings.max_duration_s * settings.fps))
    expected = limit if probed.duration_s is None else max(1, min(limit, int(probed.duration_s * settings.fps)))
    reader = threading.Thread(target=decode, name="avatar-decode", daemon=True)
    reader.start()
    try:
        observations = _track(pipe, expected, part(0.0, 0.9))
    finally:
        pipe.abandoned.set()
        reader.join()
    if failure:
        raise failure[0]
    info, frames = decoded[0]
    avatar = prepare_frames(frames, avatar_id, name, settings, source_kind=info.kind, observations=observations)
    if progress is not None:
        progress(1.0)
    return avatar
