"""Wav2Lip as a chunk renderer: one network per process, frames of all jobs batched together.

:class:`Wav2LipEngine` owns the model; :func:`render_each` takes the chunks of several jobs
(the lipsync stage gathers them with ``stream.take_events``, bounded in latency), runs
their frames through full batches and hands each chunk on as soon as its frames are done.
:class:`Wav2LipRenderer` is the per-avatar part: crops and masks computed once, mel windows from the chunk's context, the face pasted back
seamlessly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import cv2
import numpy as np
import torch

from models.avatars.avatar import Avatar
from models.lipsync.mel import SAMPLE_RATE_HZ, frame_windows, mel_window
from models.lipsync.paste import PastePlan, paste, plan_paste
from models.lipsync.render import AudioWindow, Box
from models.lipsync.wav2lip import FACE_SIZE, Precision, Wav2Lip, pick_precision

log = logging.getLogger(__name__)


class Wav2LipEngine:
    """The process's one network; ``run`` splits any number of frames into batches."""

    def __init__(self, model: Wav2Lip, precision: Precision, max_batch: int = 16) -> None:
        self.model = model.eval().to(device=precision.device, dtype=precision.dtype,
                                     memory_format=torch.channels_last)
        self.precision, self.max_batch = precision, max_batch
        self.forward_passes = 0  # for tests and the bench
        self._lock = threading.Lock()  # one forward at a time: parallel passes only fight for cores

    def forward(self, mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """One pass: mels (B, 80, 16) float32, faces (B, 6, 96, 96) uint8 -> (B, 96, 96, 3) uint8 BGR."""
        dev, dtype = self.precision.device, self.precision.dtype
        with self._lock, torch.inference_mode():
            mel = torch.from_numpy(mels).to(dev)[:, None].to(dtype)  # (B, 1, 80, 16)
            face = torch.from_numpy(faces).to(dev).to(dtype).div_(255.0)  # (B, 6, 96, 96)
            out = self.model(mel.contiguous(memory_format=torch.channels_last),
                             face.contiguous(memory_format=torch.channels_last))  # (B, 3, 96, 96)
            out = (out.float() * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
            self.forward_passes += 1
            return out.permute(0, 2, 3, 1).cpu().numpy()  # (B, 96, 96, 3)

    def run(self, mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Any number of frames, in passes of at most max_batch."""
        return np.concatenate([self.forward(mels[i:i + self.max_batch], faces[i:i + self.max_batch])
                               for i in range(0, len(mels), self.max_batch)])


def _face_input(frame: np.ndarray, crop: Box) -> np.ndarray:
    """(6, 96, 96) uint8: the crop with its lower half blacked out, then the crop itself (BGR)."""
    x0, y0, x1, y1 = crop
    face = cv2.resize(np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1]), (FACE_SIZE, FACE_SIZE))
    masked = face.copy()
    masked[FACE_SIZE // 2:] = 0
    return np.concatenate([masked, face], axis=2).transpose(2, 0, 1).copy()


class Wav2LipRenderer:
    """One avatar's lip sync through a shared engine; patches span the union of face crops."""

    # Samples past a chunk that its last frame's mel window reads: 16 mel frames from about
    # 3.2 frames per video frame, each 400 samples wide: 2760, rounded up (the tts sends 4000).
    needed_after = 2800

    def __init__(self, avatar: Avatar, engine: Wav2LipEngine) -> None:
        self.avatar, self.engine = avatar, engine
        self._plans: list[PastePlan] = [plan_paste(f, avatar.width, avatar.height) for f in avatar.faces]
        crops = np.array([p.crop for p in self._plans])
        self._box: Box = (int(crops[:, 0].min()) // 2 * 2, int(crops[:, 1].min()) // 2 * 2,
                          min(avatar.width, -(-int(crops[:, 2].max()) // 2) * 2),
                          min(avatar.height, -(-int(crops[:, 3].max()) // 2) * 2))
        self._inputs = np.stack([_face_input(avatar.frames[i], p.crop) for i, p in enumerate(self._plans)])

    @property
    def patch_box(self) -> Box:
        return self._box

    def mel_windows(self, window: AudioWindow) -> np.ndarray:
        """(n_frames, 80, 16) exactly as the whole job's spectrogram would give them."""
        if window.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"Wav2Lip needs {SAMPLE_RATE_HZ / 1000:g} kHz audio, "
                             f"got {window.sample_rate_hz}")
        span = mel_window(window.samples, window.start_sample, window.reaches_end(self.needed_after))
        return frame_windows(span, window.frame_start, window.n_frames, window.fps)

    def prepare(self, window: AudioWindow) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs for the window's frames: mels (n, 80, 16), faces (n, 6, 96, 96)."""
        idx = [self.avatar.frame_index(window.frame_start + i) for i in range(window.n_frames)]
        return self.mel_windows(window), self._inputs[idx]

    def finish(self, window: AudioWindow, generated: np.ndarray) -> np.ndarray:
        """Patches (n, ph, pw, 3) at patch_box from the network's (n, 96, 96, 3) BGR faces."""
        idx = [self.avatar.frame_index(window.frame_start + i) for i in range(window.n_frames)]
        x0, y0, x1, y1 = self._box
        patches = self.avatar.frames[idx, y0:y1, x0:x1].copy()
        for k, i in enumerate(idx):
            plan = self._plans[i]
            cx0, cy0, cx1, cy1 = plan.crop
            gen = cv2.resize(generated[k], (cx1 - cx0, cy1 - cy0))[..., ::-1]  # RGB
            region = patches[k, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            region[:] = paste(region, gen, plan)
        return patches

    def render_chunk(self, window: AudioWindow) -> np.ndarray:
        return self.finish(window, self.engine.run(*self.prepare(window)))


def render_each(engine: Wav2LipEngine,
                items: list[tuple[Wav2LipRenderer, AudioWindow]]) -> Iterator[tuple[int, np.ndarray]]:
    """Chunks of any jobs and avatars through one sequence of full batches, in the order
    given; (index, patches) for each chunk as soon as its last frame is through the network,
    so the first chunk goes on without waiting for the others' frames."""
    if not items:
        return
    inputs = [r.prepare(w) for r, w in items]
    mels = np.concatenate([m for m, _ in inputs])
    faces = np.concatenate([f for _, f in inputs])
    ends = np.cumsum([len(m) for m, _ in inputs])
    pending = np.empty((0, FACE_SIZE, FACE_SIZE, 3), np.uint8)  # generated frames not yet handed on
    base = 0  # the index of pending[0] among all the frames
    k = 0
    for i in range(0, len(mels), engine.max_batch):
        pending = np.concatenate([pending, engine.forward(mels[i:i + engine.max_batch],
                                                          faces[i:i + engine.max_batch])])
        while k < len(items) and ends[k] <= base + len(pending):
            start = int(ends[k - 1]) if k else 0
            renderer, window = items[k]
            yield k, renderer.finish(window, pending[start - base:int(ends[k]) - base])
            pending, base = pending[int(ends[k]) - base:], int(ends[k])
            k += 1
    for j, (renderer, window) in enumerate(items[k:], start=k):  # only chunks without frames
        yield j, renderer.finish(window, pending[:0])


def render_batch(engine: Wav2LipEngine, items: list[tuple[Wav2LipRenderer, AudioWindow]]) -> list[np.ndarray]:
    """`render_each`, all at once."""
    return [patches for _, patches in render_each(engine, items)]


def precision_named(name: str) -> Precision:
    """'auto', 'fp32', 'bf16' or 'fp16' -> where and how to run (fp16 needs CUDA)."""
    if name == "auto":
        return pick_precision()
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in dtypes:
        raise ValueError(f"unknown precision {name!r}; choose auto, {', '.join(dtypes)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "fp16" and device == "cpu":
        raise ValueError("fp16 needs a CUDA device")
    return Precision(device, dtypes[name])
