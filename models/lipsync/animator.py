"""Weight-free mouth animation: speech drives a jaw-drop and lip-spread warp of the photo.

Per output frame the mouth openness (0..1) comes from the audio level in dBFS, mapped
against a fixed floor/ceiling, and the spread (-1 round .. +1 wide) from the spectral
centroid; both are smoothed over two frames each side, read from the chunk's context, so
a chunk renders exactly as it would inside the whole job and nothing jitters. Rendering
warps the lower lip and chin downward with a smooth displacement field (cv2.remap),
paints a dark mouth interior (tongue shading, anti-aliased edges) into the gap that opens
at the lip line, then stretches or narrows the lips about the mouth centre. Everything that
depends only on the avatar is precomputed; silence returns the photo itself.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from models.avatars.avatar import Avatar
from models.avatars.face import LOWER_LIP_SLICE, FaceGeometry
from models.lipsync.mel import SAMPLE_RATE_HZ
from models.lipsync.render import AudioWindow

logger = logging.getLogger(__name__)

_INTERIOR_EDGE = np.array([70.0, 28.0, 30.0], np.float32)  # dark lip-shadow red at the gap edges
_INTERIOR_DEEP = np.array([22.0, 8.0, 10.0], np.float32)  # near-black deep inside the mouth
_TONGUE = np.array([110.0, 45.0, 50.0], np.float32)  # shaded tongue rising behind the lower teeth
_SMOOTH_RADIUS = 2  # frames each side; well inside the 0.2 s of context before a chunk
_SMOOTH_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # binomial: no overshoot, no lag


@dataclass(frozen=True)
class AnimatorSettings:
    fps: int = 25
    sample_rate_hz: int = SAMPLE_RATE_HZ
    floor_dbfs: float = -45.0  # frame RMS at or below this: mouth closed
    ceiling_dbfs: float = -18.0  # frame RMS at or above this: mouth fully open
    max_open_ratio: float = 0.22  # full-open lip gap as a fraction of mouth width
    upper_lip_ratio: float = 0.12  # how far the upper lip rises, relative to the jaw drop
    max_widen_ratio: float = 0.15  # lips stretch (spread +1) or narrow (-1) by this share
    neutral_centroid_hz: float = 1500.0  # spectral centroid of a neutral vowel: no spread
    centroid_range_hz: float = 1200.0  # centroid change for full spread


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class _Layout:
    """Per-frame mouth measurements in image pixels."""

    cx: float  # mouth centre x
    half_mouth: float  # half the corner-to-corner width
    half_jaw: float  # half the jaw width the chin moves with
    lip_xs: np.ndarray  # x of the lower inner lip contour (sorted)
    lip_ys: np.ndarray  # y there: the line where the mouth splits open
    upper_top: float  # above this nothing moves
    chin: float  # chin tip y
    amplitude: float  # full-open jaw drop in pixels


def _layout(face: FaceGeometry, settings: AnimatorSettings) -> _Layout:
    mouth = face.mouth.astype(np.float64)
    left, right = mouth[0], mouth[10]
    cx = float((left[0] + right[0]) / 2)
    half_mouth = max(2.0, float(abs(right[0] - left[0]) / 2))
    if len(face.inner_mouth) >= 11:
        split = face.inner_mouth[LOWER_LIP_SLICE].astype(np.float64)  # top of the lower lip
    else:  # older geometry without inner landmarks: midway between the outer lips
        split = (mouth[0:11] + mouth[[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0]][::-1]) / 2
    order = np.argsort(split[:, 0])
    lip_xs, lip_ys = split[order, 0], split[order, 1]
    centre_split = float(np.interp(cx, lip_xs, lip_ys))
    upper_lip_top = float(mouth[10:, 1].min())
    upper_top = upper_lip_top - 1.2 * max(2.0, centre_split - upper_lip_top) - 2.0
    if len(face.jaw) >= 10:
        chin = float(face.jaw[:, 1].max())
        half_jaw = float(np.ptp(face.jaw[:, 0])) / 2 * 0.8
    else:
        chin, half_jaw = centre_split + 1.2 * half_mouth, 1.6 * half_mouth
    amplitude = settings.max_open_ratio * 2 * half_mouth
    return _Layout(cx, half_mouth, max(half_jaw, half_mouth * 1.2), lip_xs, lip_ys,
                   upper_top, chin, amplitude)


def _extent(lay: _Layout) -> tuple[float, float, float, float]:
    """Region the warp of this frame touches (x0, y0, x1, y1), with a small margin."""
    bottom = max(lay.chin, lay.lip_ys.max() + 3 * lay.amplitude) + 2.5 * lay.amplitude
    return (lay.cx - lay.half_jaw - 3, lay.upper_top - 3, lay.cx + lay.half_jaw + 3, bottom + 3)


@dataclass(frozen=True)
class _FrameFields:
    """Everything render() needs for one avatar frame, in patch coordinates."""

    base: np.ndarray  # (ph, pw, 3) uint8 original pixels
    field: np.ndarray  # (ph, pw) float32 source-row offset at openness 1
    split: np.ndarray  # (pw,) float32 lip-line row per column
    drop: np.ndarray  # (pw,) float32 lower-lip drop at openness 1
    rise: np.ndarray  # (pw,) float32 upper-lip rise at openness 1
    band: tuple[int, int]  # rows where the mouth gap can appear
    field_x: np.ndarray  # (ph, pw) float32 source-column offset per unit of widening


class MouthAnimator:
    """Opens the mouth with speech energy, closes it in silence; no weights needed."""

    def __init__(self, avatar: Avatar, settings: AnimatorSettings = AnimatorSettings()) -> None:
        self.avatar = avatar
        self.settings = settings
        layouts = [_layout(face, settings) for face in avatar.faces]
        extents = np.array([_extent(lay) for lay in layouts])
        h, w = avatar.height, avatar.width
        x0 = max(0, int(np.floor(extents[:, 0].min())) // 2 * 2)
        y0 = max(0, int(np.floor(extents[:, 1].min())) // 2 * 2)
        x1 = min(w, -(-int(np.ceil(extents[:, 2].max())) // 2) * 2)
        y1 = min(h, -(-int(np.ceil(extents[:, 3].max())) // 2) * 2)
        self._box = (x0, y0, x1, y1)
        ph, pw = y1 - y0, x1 - x0
        self._grid_x, self._grid_y = np.meshgrid(
            np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32))
        ramp = 4.0  # the warp fades to zero at the patch border, so pasting leaves no seam
        taper_y = _smoothstep(np.minimum(np.arange(ph), ph - 1 - np.arange(ph)) / ramp)
        taper_x = _smoothstep(np.minimum(np.arange(pw), pw - 1 - np.arange(pw)) / ramp)
        self._taper = np.outer(taper_y, taper_x).astype(np.float32)
        self._fields = [self._frame_fields(i, lay) for i, lay in enumerate(layouts)]
        self._half_patch_w = float(max(float(np.abs(f.field_x).max()) for f in self._fields))
        logger.debug("mouth animator for %r: patch %s over %d frame(s)", avatar.avatar_id,
                     self._box, len(layouts))

    @property
    def patch_box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 (even-aligned): the only region render() changes, for every frame."""
        return self._box

    def _frame_fields(self, index: int, lay: _Layout) -> _FrameFields:
        x0, y0, x1, y1 = self._box
        xs = np.arange(x0, x1, dtype=np.float64)
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        split = np.interp(xs, lay.lip_xs, lay.lip_ys)
        u_mouth = (xs - lay.cx) / lay.half_mouth
        mouth_w = np.clip(1.0 - u_mouth ** 2, 0.0, 1.0) ** 0.8  # lens-shaped gap, closed at corners
        u_jaw = np.abs(xs - lay.cx) / lay.half_jaw
        jaw_w = np.maximum(0.5 * (1 + np.cos(np.pi * np.clip((u_jaw - 0.4) / 0.6, 0, 1))), mouth_w)
        a = lay.amplitude
        k = self.settings.upper_lip_ratio
        # Below the split: lip gap profile near the mouth, widening to the whole chin, then
        # fading out over the neck. Slopes stay < 1 px/px, so the warp never folds.
        s_start = lay.lip_ys.max() + a
        s_end = max(lay.chin, s_start + 2 * a)
        widen = _smoothstep((ys - s_start) / (s_end - s_start))
        fade = 1.0 - _smoothstep((ys - s_end) / (2.5 * a))
        lower = -a * (mouth_w + (jaw_w - mouth_w) * widen) * fade
        # Above the split: the upper lip rises a little, fading out below the nose.
        rise_from = lay.lip_ys.min() - k * a - 1.0
        upper = k * a * mouth_w * _smoothstep((ys - lay.upper_top) / max(1.0, rise_from - lay.upper_top))
        field = np.where(ys >= split, lower, upper).astype(np.float32) * self._taper
        band0 = max(0, int(np.floor(lay.lip_ys.min() - k * a)) - 2 - y0)
        band1 = min(y1 - y0, int(np.ceil(lay.lip_ys.max() + a)) + 3 - y0)
        base = np.ascontiguousarray(self.avatar.frames[index, y0:y1, x0:x1])
        # Widening/rounding: a horizontal stretch about the mouth centre, confined to a soft
        # ellipse around the lips (gentle slopes: never folds).
        lip_y = float(np.interp(lay.cx, lay.lip_xs, lay.lip_ys))
        bump = (np.exp(-(((xs - lay.cx) / (1.6 * lay.half_mouth)) ** 2))[None, :]
                * np.exp(-(((ys - lip_y) / (0.9 * lay.half_mouth + a)) ** 2)))
        field_x = ((xs - lay.cx)[None, :] * bump).astype(np.float32) * self._taper
        return _FrameFields(base=base, field=field, split=(split - y0).astype(np.float32),
                            drop=(a * mouth_w).astype(np.float32),
                            rise=(k * a * mouth_w).astype(np.float32), band=(band0, band1),
                            field_x=field_x)

    def _frame_levels(self, samples: np.ndarray, n_frames: int) -> np.ndarray:
        """Unsmoothed per-frame level in [0, 1]: frame RMS in dBFS against a fixed floor and
        ceiling, never normalised per call, so separately processed chunks agree."""
        st = self.settings
        spf = st.sample_rate_hz // st.fps
        x = np.asarray(samples).reshape(-1)[:n_frames * spf].astype(np.float64) / 32768.0
        x = np.pad(x, (0, n_frames * spf - len(x)))
        energy = (x.reshape(n_frames, spf) ** 2).mean(axis=1)
        dbfs = 10.0 * np.log10(energy + 1e-12)
        return np.clip((dbfs - st.floor_dbfs) / (st.ceiling_dbfs - st.floor_dbfs), 0.0, 1.0)

    def _frame_spread(self, samples: np.ndarray, n_frames: int) -> np.ndarray:
        """Unsmoothed per-frame mouth spread in [-1, 1] from the spectral centroid: bright
        sounds (ee, s) widen the lips, dark ones (oo, o) round them; weighted by loudness so
        silence stays neutral."""
        st = self.settings
        spf = st.sample_rate_hz // st.fps
        x = np.asarray(samples).reshape(-1)[:n_frames * spf].astype(np.float64) / 32768.0
        x = np.pad(x, (0, n_frames * spf - len(x))).reshape(n_frames, spf)
        power = np.abs(np.fft.rfft(x * np.hanning(spf), axis=1)) ** 2  # (n, spf // 2 + 1)
        hz = np.fft.rfftfreq(spf, 1.0 / st.sample_rate_hz)
        band = (hz >= 100) & (hz <= 5000)
        centroid = (power[:, band] @ hz[band]) / np.maximum(power[:, band].sum(axis=1), 1e-12)
        spread = np.clip((centroid - st.neutral_centroid_hz) / st.centroid_range_hz, -1.0, 1.0)
        return spread * self._frame_levels(samples, n_frames)

    def _smoothed(self, window: AudioWindow,
                  per_frame: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
        """per_frame over the window's own frames, smoothed over _SMOOTH_RADIUS frames each side
        read from the context; frames beyond the job's ends count as silence (0)."""
        spf, r = window.spf, _SMOOTH_RADIUS
        nb, na = min(window.before // spf, r), min(window.after // spf, r)
        seg = window.samples[window.before - nb * spf:window.before + (window.n_frames + na) * spf]
        values = np.pad(per_frame(seg, nb + window.n_frames + na), (r - nb, r - na))
        return np.convolve(values, _SMOOTH_KERNEL, mode="valid").astype(np.float32)

    def spread(self, window: AudioWindow) -> np.ndarray:
        """Mouth spread (n_frames,) float32 in [-1, 1]: + wider, - rounder."""
        return self._smoothed(window, self._frame_spread)

    def levels(self, window: AudioWindow) -> np.ndarray:
        """Openness (n_frames,) float32 of the window's own frames.

        Smoothed over SMOOTH_RADIUS frames each side, read from the window's context; frames
        beyond the job's ends count as silence. Every frame therefore depends only on job
        audio near it, and chunk-by-chunk equals whole-job.
        """
        return self._smoothed(window, self._frame_levels)

    def openness(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        """Openness of int16 audio covering exactly n_frames, with no context around it."""
        if n_frames <= 0:
            return np.zeros(0, np.float32)
        st = self.settings
        spf = st.sample_rate_hz // st.fps
        audio = np.asarray(audio).reshape(-1)[:n_frames * spf]
        audio = np.pad(audio, (0, n_frames * spf - len(audio))).astype(np.int16)
        return self.levels(AudioWindow(audio, 0, 0, 0, n_frames, st.sample_rate_hz, st.fps))

    def render_chunk(self, window: AudioWindow) -> np.ndarray:
        """Patches (n_frames, ph, pw, 3) for the window's own frames."""
        return self.render(window.frame_start, self.levels(window), self.spread(window))

    def render(self, frame_start: int, openness: np.ndarray, spread: np.ndarray | None = None) -> np.ndarray:
        """Mouth patches (n, ph, pw, 3) uint8 for global frames frame_start, frame_start+1, ...

        ``spread`` (-1..1 per frame, default 0) widens or rounds the open mouth.
        """
        opens = np.clip(np.asarray(openness, np.float32).reshape(-1), 0.0, 1.0)
        spreads = np.zeros_like(opens) if spread is None else np.clip(np.asarray(spread, np.float32), -1, 1)
        x0, y0, x1, y1 = self._box
        out = np.empty((len(opens), y1 - y0, x1 - x0, 3), np.uint8)
        for i, o in enumerate(opens):
            ff = self._fields[self.avatar.frame_index(frame_start + i)]
            if o * float(ff.drop.max(initial=0.0)) < 0.05:  # sub-pixel motion: the photo itself
                out[i] = ff.base
                continue
            map_y = cv2.scaleAdd(ff.field, float(o), self._grid_y)
            out[i] = cv2.remap(ff.base, self._grid_x, map_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            self._paint_gap(out[i], ff, float(o))
            gain = self.settings.max_widen_ratio * float(o * spreads[i])
            if abs(gain) * self._half_patch_w >= 0.05:
                map_x = cv2.scaleAdd(ff.field_x, -gain, self._grid_x)
                out[i] = cv2.remap(out[i], map_x, self._grid_y, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
        return out

    @staticmethod
    def _paint_gap(patch: np.ndarray, ff: _FrameFields, o: float) -> None:
        """Dark mouth interior between the parted lips, anti-aliased at its edges."""
        b0, b1 = ff.band
        dy = np.arange(b0, b1, dtype=np.float32)[:, None] - ff.split[None, :]
        top, bottom = -o * ff.rise, o * ff.drop
        # Coverage of each pixel by the gap; thin gaps (towards the corners) fade out.
        alpha = np.clip(np.minimum(dy - top, bottom - dy) + 0.5, 0.0, 1.0) * np.clip(bottom - top, 0.0, 1.0)
        if not alpha.any():
            return
        depth = np.clip((dy - top) / np.maximum(bottom - top, 1e-3), 0.0, 1.0)
        deep = 1.0 - np.abs(2.0 * depth - 1.0)  # 0 at the lips, 1 mid-gap
        colour = _INTERIOR_EDGE + (_INTERIOR_DEEP - _INTERIOR_EDGE) * deep[..., None]
        # A wide-open mouth shows the tongue in its lower part, lit from the front.
        tongue = np.clip((depth - 0.55) / 0.35, 0.0, 1.0) * min(1.0, max(0.0, (o - 0.3) / 0.5))
        colour += (_TONGUE - colour) * (0.6 * tongue * (1.0 - 0.5 * np.abs(dy - bottom) / np.maximum(bottom - top, 1.0)))[..., None]
        region = patch[b0:b1].astype(np.float32)
        a = alpha[..., None]
        patch[b0:b1] = (region * (1.0 - a) + colour * a + 0.5).astype(np.uint8)

    def compose(self, frame_start: int, patches: np.ndarray) -> np.ndarray:
        """Full frames (n, H, W, 3): avatar frames with the patches pasted at patch_box."""
        x0, y0, x1, y1 = self._box
        if patches.shape[1:] != (y1 - y0, x1 - x0, 3):
            raise ValueError(f"patches {patches.shape[1:]} do not fit patch_box {self._box}")
        idx = [self.avatar.frame_index(frame_start + i) for i in range(len(patches))]
        frames = self.avatar.frames[idx]  # fancy indexing copies
        frames[:, y0:y1, x0:x1] = patches
        return frames
