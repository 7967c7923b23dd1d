"""audio chunks -> frame chunks: the mouth rendered from each chunk's audio and its context.

Chunks are taken in small batches (``take_events``, bounded by a short window), so the frames
of every job this worker serves go through the network together. A chunk carries the job's
audio around it, so rendering needs no state across records. Only the region the renderer
changes travels on (patches), with the chunk's own PCM.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import faust
import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.animator import MouthAnimator
from models.lipsync.render import AudioWindow, Box, ChunkRenderer
from processors.avatar_cache import AvatarCache
from processors.context import HeaderRecord, StageContext, hold, release
from processors.settings import LipsyncSettings
from schemas.pipeline import AudioChunkMeta, FrameChunkMeta
from schemas.status import JobState

if TYPE_CHECKING:
    from models.lipsync.engine import Wav2LipEngine

STAGE = "lipsync"
log = logging.getLogger(__name__)


RenderResult = tuple[Box, np.ndarray]  # the patch box and (n_frames, y1 - y0, x1 - x0, 3) patches


class Renderers:
    """This process's renderers per avatar, built from the avatars ``load`` gives (the worker's
    shared cache); one Wav2Lip engine shared by all when a checkpoint is configured (loaded on
    first use, in the CPU pool), else the animator."""

    def __init__(self, settings: LipsyncSettings, load: Callable[[str], Avatar],
                 capacity: int = 8) -> None:
        self._settings = settings
        self._engine: Wav2LipEngine | None = None
        self._lock = threading.Lock()
        self._cache: AvatarCache[ChunkRenderer] = AvatarCache(load, self._build, capacity)

    def engine(self) -> Wav2LipEngine | None:
        s = self._settings
        if s.wav2lip_checkpoint is None:
            return None
        from models.lipsync.engine import Wav2LipEngine, precision_named  # torch only when used
        from models.lipsync.wav2lip import load_wav2lip

        with self._lock:
            if self._engine is None:
                precision = precision_named(s.precision)
                self._engine = Wav2LipEngine(load_wav2lip(s.wav2lip_checkpoint, precision), precision,
                                             max_batch=s.max_batch_frames)
            return self._engine

    def _build(self, avatar: Avatar) -> ChunkRenderer:
        engine = self.engine()
        if engine is None:
            return MouthAnimator(avatar)
        from models.lipsync.engine import Wav2LipRenderer

        return Wav2LipRenderer(avatar, engine)

    def get(self, avatar_id: str) -> ChunkRenderer:
        return self._cache.get(avatar_id)

    def render(self, items: list[tuple[str, AudioWindow]]) -> list[RenderResult]:
        """(box, patches) per (avatar_id, window); network frames of all items batched."""
        renderers = [self.get(avatar_id) for avatar_id, _ in items]
        engine = self.engine()
        if engine is None:
            return [(r.patch_box, r.render_chunk(w)) for r, (_, w) in zip(renderers, items)]
        from models.lipsync.engine import render_batch

        w2l = [(r, w) for r, (_, w) in zip(renderers, items)]
        patches = render_batch(engine, w2l)  # type: ignore[arg-type]
        return [(r.patch_box, p) for (r, _), p in zip(w2l, patches)]

    def render_apart(self, items: list[tuple[str, AudioWindow]]) -> list[RenderResult | Exception]:
        """One by one, after a batch failed: one job's bad chunk must not fail the others."""
        out: list[RenderResult | Exception] = []
        for item in items:
            try:
                out.extend(self.render([item]))
            except Exception as exc:  # noqa: BLE001 - whatever broke, it is this chunk's failure
                out.append(exc)
        return out


def audio_window(meta: AudioChunkMeta, payload: bytes) -> AudioWindow:
    """The chunk's int16 PCM ``[before | own | after]`` as the renderers take it."""
    if len(payload) % 2:
        raise ValueError(f"audio payload has an odd length {len(payload)}")
    return AudioWindow(np.frombuffer(payload, dtype="<i2"), meta.context_before_samples,
                       meta.context_after_samples, meta.frame_start, meta.n_frames,
                       meta.sample_rate_hz, meta.job.options.fps)


def frame_record(meta: AudioChunkMeta, window: AudioWindow, box: Box,
                 patches: np.ndarray) -> HeaderRecord[FrameChunkMeta]:
    """The frames record: patches (uint8) then the chunk's PCM with its context (int16)."""
    data = np.ascontiguousarray(patches, dtype=np.uint8).tobytes()
    out = FrameChunkMeta(job=meta.job, seq=meta.seq, frame_start=meta.frame_start,
                         n_frames=meta.n_frames, box=box, patch_bytes=len(data),
                         sample_rate_hz=meta.sample_rate_hz, is_last=meta.is_last,
                         context_before_samples=window.before, context_after_samples=window.after)
    return HeaderRecord(out, data + window.samples.astype("<i2").tobytes())


async def _live_chunks(ctx: StageContext,
                       events: list[faust.EventT]) -> list[tuple[AudioChunkMeta, AudioWindow]]:
    """The batch's readable chunks of live jobs; an unreadable one becomes a dead letter."""
    batch: list[tuple[AudioChunkMeta, AudioWindow]] = []
    for event in events:
        key = event.key
        if isinstance(key, bytes) and ctx.control.is_stopped(key.decode(errors="replace")):
            continue
        try:
            meta = AudioChunkMeta.from_headers(event.headers)
            batch.append((meta, audio_window(meta, event.value)))
        except Exception as exc:  # noqa: BLE001 - the record's fault: dead letter, keep going
            await ctx.dead_letter(event, STAGE, f"{type(exc).__name__}: {exc}")
    return batch


async def lipsync(ctx: StageContext, renderers: Renderers, stream: faust.StreamT) -> None:
    async for events in stream.take_events(8, within=ctx.settings.lipsync.batch_window_s):
        hold(*events)  # committable once sent (processors/context.py), not when the batch is closed
        batch = await _live_chunks(ctx, events)
        items = [(meta.job.avatar_id, window) for meta, window in batch]
        results: list[RenderResult | Exception]
        try:
            results = list(await ctx.run_cpu(renderers.render, items)) if items else []
        except Exception:  # retried one by one, so each chunk fails on its own
            log.warning("batch of %d chunks failed; rendering them one by one", len(items),
                        exc_info=True)
            results = await ctx.run_cpu(renderers.render_apart, items)
        for (meta, window), result in zip(batch, results):
            job_id = meta.job.job_id
            if isinstance(result, Exception):
                await ctx.fail(job_id, STAGE, result)
            elif not ctx.control.is_stopped(job_id):
                await ctx.send(ctx.topics.frames, job_id, frame_record(meta, window, *result))
                if meta.seq == 0:
                    await ctx.report(job_id, STAGE, JobState.RUNNING,
                                     message="first frames rendered")
        await release(stream, *events)


def register(ctx: StageContext) -> None:
    renderers = Renderers(ctx.settings.lipsync, ctx.avatars.get,
                          capacity=ctx.settings.avatars.cache_size)
    ctx.app.agent(ctx.topics.audio, name=STAGE)(functools.partial(lipsync, ctx, renderers))
