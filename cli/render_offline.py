"""A whole job rendered in this process, no Kafka: the same steps as the streaming stages.

Sentences are split and spoken as the chunker and tts stages do, cut into the same chunks
with the same context (the tts stage's ``cut_sentence``), rendered by the lipsync stage's
:class:`Renderers`, composed and encoded as the encoder stage does, then remuxed like the
assembler. Equal input therefore gives the streamed job's video.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.render import AudioWindow, compose
from models.media.assemble import MediaInfo, remux_to_mp4
from models.media.encode import EncodeSettings, encode_chunk
from models.media.frame_size import output_size, scale_frames
from models.speech.audio_chunks import AudioCarry, ReadyChunk
from models.speech.sentences import split_sentences
from processors.lipsync import Renderers
from processors.settings import WorkerSettings
from processors.tts import cut_sentence
from schemas.options import AUDIO_SAMPLE_RATE_HZ, RenderOptions

log = logging.getLogger(__name__)


def job_chunks(sentences: list[np.ndarray], options: RenderOptions,
               settings: WorkerSettings) -> Iterator[ReadyChunk]:
    """The tts stage's chunks (with context) for a job's spoken sentences, in order."""
    carry = AudioCarry()
    for seq, speech in enumerate(sentences):
        ready, carry = cut_sentence(carry, seq, len(sentences), speech, options, settings)
        yield from ready


@dataclass(frozen=True)
class RenderTimings:
    speech_s: float
    render_s: float
    encode_s: float
    frames: int


def render_audio(chunks: list[ReadyChunk], avatar: Avatar, renderers: Renderers, options: RenderOptions,
                 settings: WorkerSettings, out: Path) -> tuple[MediaInfo, RenderTimings]:
    """Chunks -> renderer -> compose -> encode_chunk (each on its own) -> remuxed MP4 at ``out``."""
    if not chunks:
        raise ValueError("nothing to render: the job has no audio")
    video = settings.lipsync
    size = output_size(avatar.width, avatar.height, video.video_max_side)
    encode = EncodeSettings(width=size[0], height=size[1], fps=options.fps,
                            sample_rate_hz=AUDIO_SAMPLE_RATE_HZ, crf=video.video_crf,
                            preset=video.video_preset)
    init, segments = b"", []
    render_s = encode_s = 0.0
    frames = 0
    for item in chunks:
        c = item.chunk
        window = AudioWindow(item.payload, item.before_samples, item.after_samples, c.frame_start,
                             c.n_frames, AUDIO_SAMPLE_RATE_HZ, options.fps)
        t0 = time.perf_counter()
        [(box, patches)] = renderers.render([(avatar.avatar_id, window)])
        t1 = time.perf_counter()
        composed = scale_frames(compose(avatar, c.frame_start, box, patches), size)
        segment = encode_chunk(encode, composed, c.frame_start, window.samples, window.before,
                               window.after, item is chunks[-1], c.seq)
        init = init or segment.init
        segments.append(segment.media)
        render_s, encode_s = render_s + t1 - t0, encode_s + time.perf_counter() - t1
        frames += c.n_frames
    info = remux_to_mp4(init, segments, out)
    return info, RenderTimings(0.0, render_s, encode_s, frames)


def render_text(text: str, avatar: Avatar, out: Path, settings: WorkerSettings,
                speak: Callable[[str], np.ndarray], options: RenderOptions | None = None) -> tuple[MediaInfo, RenderTimings]:
    """Script -> sentences -> ``speak`` (16 kHz int16) -> :func:`render_audio`."""
    options = options or RenderOptions()
    pieces = split_sentences(text, max_chars=settings.max_sentence_chars,
                             first_max_chars=settings.first_sentence_chars,
                             max_script_chars=settings.max_script_chars)
    if not pieces:
        raise ValueError("the script has no words to speak")
    t0 = time.perf_counter()
    speech = [speak(p) for p in pieces]
    speech_s = time.perf_counter() - t0
    renderers = Renderers(settings.lipsync, lambda _id: avatar)
    chunks = list(job_chunks(speech, options, settings))
    info, timings = render_audio(chunks, avatar, renderers, options, settings, out)
    log.info("rendered %d frames to %s (speech %.2fs, render %.2fs, encode %.2fs)", timings.frames, out,
             speech_s, timings.render_s, timings.encode_s)
    return info, RenderTimings(speech_s, timings.render_s, timings.encode_s, timings.frames)
