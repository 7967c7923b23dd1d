"""audio chunks -> frame chunks: the mouth rendered from each chunk's audio and its context.

Chunks are served by deadline across jobs (processors/schedule.py), up to 8 at a time, so
the frames of every job this worker serves go through the network together; each chunk is
sent as soon as its frames are done. A chunk carries the job's audio around it, so
rendering needs no state across records. Only the region the renderer changes travels on
(patches), with the chunk's own PCM. With a Wav2Lip checkpoint the engine is loaded and
warmed before the worker joins its group, so it says ready only once a chunk would not wait.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import faust
import numpy as np

from models.avatars.avatar import Avatar
from models.avatars.sample import SAMPLE_AVATAR_ID
from models.lipsync.animator import MouthAnimator
from models.lipsync.render import AudioWindow, Box, ChunkRenderer
from processors.avatar_cache import AvatarCache
from processors.context import HeaderRecord, StageContext, superseded
from processors.settings import LipsyncSettings
from processors.usage import Meter, charge, current_meter
from schemas.options import AUDIO_SAMPLE_RATE_HZ
from schemas.pipeline import AudioChunkMeta, FrameChunkMeta
from schemas.status import JobState

if TYPE_CHECKING:
    from models.lipsync.engine import Wav2LipEngine

STAGE = "lipsync"
log = logging.getLogger(__name__)


RenderResult = tuple[Box, np.ndarray]  # the patch box and (n_frames, y1 - y0, x1 - x0, 3) patches


def _silence(n_frames: int) -> AudioWindow:
    """A chunk of silence with the context a real one has (processors/tts.py)."""
    before, after, spf = 3200, 4000, AUDIO_SAMPLE_RATE_HZ // 25
    return AudioWindow(np.zeros(before + n_frames * spf + after, np.int16), before, after, 0, n_frames,
                       AUDIO_SAMPLE_RATE_HZ, 25)


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

    @property
    def on_gpu(self) -> bool:
        """Whether the network runs on a GPU (its time is then the job's GPU seconds)."""
        engine = self._engine
        return engine is not None and engine.precision.device != "cpu"

    @property
    def kind(self) -> str:
        """The renderer's name in metrics: `wav2lip` with a checkpoint, else `animator`."""
        return "animator" if self._settings.wav2lip_checkpoint is None else "wav2lip"

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

    def warm(self, avatar_ids: Iterable[str] = ()) -> int:
        """Loads the engine, runs it once for each batch size it will get, and builds the
        renderers of `avatar_ids` and renders a silent chunk through each, so that none of it
        falls on a job's first chunk (torch's import and the checkpoint took seconds there,
        and the first mel spectrogram, librosa's import and set-up, 4 s more). The sizes:
        every one up to a full batch on a GPU, where a new shape sets up its kernels; a full
        batch and a single frame on a CPU, where the first pass is the slow one. Returns the
        passes run (the silent chunks not counted)."""
        engine = self.engine()
        if engine is None:
            for avatar_id in avatar_ids:
                self.get(avatar_id)
            return 0
        sizes = range(1, engine.max_batch + 1) if self.on_gpu else {1, engine.max_batch}
        for size in sorted(sizes):
            engine.forward(np.zeros((size, 80, 16), np.float32), np.zeros((size, 6, 96, 96), np.uint8))
        for avatar_id in avatar_ids:  # the whole path once: librosa's first mel alone took 4 s
            self.get(avatar_id).render_chunk(_silence(engine.max_batch))
        return len(sizes)

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
        return [result for _, result in self._render_each(items)]

    def render_each(self, items: list[tuple[str, AudioWindow]],
                    emit: Callable[[int, RenderResult | Exception], None]) -> None:
        """`emit(index, result)` for each item as soon as it is rendered, in the order given.
        When the batch fails, the items not yet out are rendered one by one, so one job's
        bad chunk fails only that chunk."""
        sent = 0  # `_render_each` gives the items in order: the first `sent` are out
        try:
            for k, result in self._render_each(items):
                emit(k, result)
                sent = k + 1
        except Exception:  # whose fault it was shows one by one
            log.warning("batch of %d chunks failed; rendering the rest one by one", len(items),
                        exc_info=True)
            for k, item in enumerate(items[sent:], start=sent):
                try:
                    emit(k, self.render([item])[0])
                except Exception as exc:  # noqa: BLE001 - this chunk's failure
                    emit(k, exc)

    def _render_each(self, items: list[tuple[str, AudioWindow]]) -> Iterator[tuple[int, RenderResult]]:
        renderers = [self.get(avatar_id) for avatar_id, _ in items]
        engine = self.engine()
        if engine is None:
            for k, (r, (_, w)) in enumerate(zip(renderers, items, strict=True)):
                yield k, (r.patch_box, r.render_chunk(w))
            return
        from models.lipsync.engine import render_each

        w2l = [(r, w) for r, (_, w) in zip(renderers, items, strict=True)]
        for k, patches in render_each(engine, w2l):  # type: ignore[arg-type]
            yield k, (renderers[k].patch_box, patches)


def audio_window(meta: AudioChunkMeta, payload: bytes) -> AudioWindow:
    """The chunk's int16 PCM ``[before | own | after]`` as the renderers take it."""
    if len(payload) % 2:
        raise ValueError(f"audio payload has an odd length {len(payload)}")
    return AudioWindow(np.frombuffer(payload, dtype="<i2"), meta.context_before_samples,
                       meta.context_after_samples, meta.frame_start, meta.n_frames,
                       meta.sample_rate_hz, meta.job.options.fps)


def silenced(window: AudioWindow) -> AudioWindow:
    """An interrupted chunk: rendered from silence, so the mouth rests and nothing is heard."""
    return dataclasses.replace(window, samples=np.zeros_like(window.samples))


def frame_record(meta: AudioChunkMeta, window: AudioWindow, box: Box,
                 patches: np.ndarray) -> HeaderRecord[FrameChunkMeta]:
    """The frames record: patches (uint8) then the chunk's PCM with its context (int16)."""
    data = np.ascontiguousarray(patches, dtype=np.uint8).tobytes()
    out = FrameChunkMeta(job=meta.job, seq=meta.seq, frame_start=meta.frame_start,
                         n_frames=meta.n_frames, box=box, patch_bytes=len(data),
                         sample_rate_hz=meta.sample_rate_hz, is_last=meta.is_last,
                         context_before_samples=window.before, context_after_samples=window.after)
    return HeaderRecord(out, data + window.samples.astype("<i2").tobytes())


def _parse(event: faust.EventT) -> tuple[AudioChunkMeta, AudioWindow]:
    meta = AudioChunkMeta.from_headers(event.headers)
    return meta, audio_window(meta, event.value)


def _position_s(chunk: tuple[AudioChunkMeta, AudioWindow]) -> float:
    meta = chunk[0]
    return meta.frame_start / meta.job.options.fps


async def _rendered(ctx: StageContext, renderers: Renderers, items: list[tuple[str, AudioWindow]]
                    ) -> AsyncIterator[tuple[int, RenderResult | Exception]]:
    """Each item's result as soon as the pool has it, while it renders the next."""
    loop = asyncio.get_running_loop()
    results: asyncio.Queue[tuple[int, RenderResult | Exception] | None] = asyncio.Queue()

    def emit(k: int, result: RenderResult | Exception) -> None:
        loop.call_soon_threadsafe(results.put_nowait, (k, result))

    def work() -> float:
        started = time.perf_counter()
        try:
            renderers.render_each(items, emit)
        finally:
            loop.call_soon_threadsafe(results.put_nowait, None)
        return time.perf_counter() - started

    done = asyncio.ensure_future(ctx.run_cpu(work))
    while (item := await results.get()) is not None:
        yield item
    wall_s = await done
    if renderers.on_gpu:
        charge(0.0, wall_s)  # its CPU time was charged by run_cpu


async def lipsync(ctx: StageContext, renderers: Renderers, stream: faust.StreamT) -> None:
    # up to 8 chunks at once, earliest due first (processors/schedule.py): the frames of
    # several jobs go through the network together, and a job's first chunk never waits
    frames = ctx.metrics.frames.labels(renderers.kind)
    async for served in ctx.scheduled(stream, STAGE, _parse, _position_s, batch=8,
                                      job_of=lambda chunk: chunk[0].job):
        batch = [(meta, silenced(window) if superseded(ctx, meta.job) else window)
                 for _event, (meta, window) in served]
        items = [(meta.job.avatar_id, window) for meta, window in batch]
        rendered = []
        async for k, result in _rendered(ctx, renderers, items):
            meta, window = batch[k]
            job_id = meta.job.job_id
            if isinstance(result, Exception):
                await ctx.fail(job_id, STAGE, result, tenant=meta.job.tenant)
            elif not ctx.control.is_stopped(job_id):
                await ctx.send(ctx.topics.frames, job_id, frame_record(meta, window, *result))
                frames.inc(meta.n_frames)
                rendered.append(meta)
                if meta.seq == 0:
                    await ctx.report(job_id, STAGE, JobState.RUNNING, tenant=meta.job.tenant,
                                     message="first frames rendered")
        await _account(ctx, batch, rendered)


async def _account(ctx: StageContext, batch: list[tuple[AudioChunkMeta, AudioWindow]],
                   rendered: list[AudioChunkMeta]) -> None:
    """The batch's CPU and GPU seconds shared among its chunks by their frames."""
    meter = current_meter.get() or Meter()
    frames = sum(meta.n_frames for meta, _ in batch)
    for meta in rendered:
        share = meta.n_frames / frames
        await ctx.account(meta.job.job_id, STAGE, meta.seq, cpu_s=meter.cpu_s * share,
                          gpu_s=meter.gpu_s * share)


def register(ctx: StageContext) -> None:
    renderers = Renderers(ctx.settings.lipsync, ctx.avatars.get,
                          capacity=ctx.settings.avatars.cache_size)
    if ctx.settings.lipsync.wav2lip_checkpoint is not None:  # before the worker joins its group
        started = time.perf_counter()
        known = [SAMPLE_AVATAR_ID] if ctx.store.avatar_summary(SAMPLE_AVATAR_ID) else []
        passes = renderers.warm(known)
        log.info("Wav2Lip engine loaded and warmed (%d passes, avatars %s) in %.2f s",
                 passes, known, time.perf_counter() - started)
    ctx.app.agent(ctx.topics.audio, name=STAGE)(functools.partial(lipsync, ctx, renderers))
