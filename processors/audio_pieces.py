"""An audio job's request -> its pieces, as the Sentence records the tts stage takes.

A caller's own audio goes down the same path as speech: the chunker cuts the file's
timeline into pieces of a few seconds (a short first one, so the first segment comes
soon), and the tts stage decodes each piece where it would have synthesized a sentence.
Only the container's duration is read here; nothing is decoded whole.
"""

from __future__ import annotations

from pathlib import Path

from core.store import MediaStore
from models.speech.audio_file import OUT_RATE_HZ, decode_piece, probe_audio_file
from models.speech.tts_backend import Utterance
from schemas.pipeline import AudioPiece, JobRef, Sentence
from schemas.requests import ScriptRequest

FIRST_PIECE_S = 2.0
PIECE_S = 6.0


def piece_bounds(duration_s: float, fps: int) -> list[tuple[int, int | None]]:
    """Sample ranges on frame boundaries covering `duration_s`; the last is open (None: to the
    file's end), so a container that misstates its length loses nothing."""
    spf = OUT_RATE_HZ // fps
    first, rest = max(1, round(FIRST_PIECE_S * fps)) * spf, max(1, round(PIECE_S * fps)) * spf
    total = round(duration_s * OUT_RATE_HZ)
    starts = [0]
    while starts[-1] + (first if len(starts) == 1 else rest) < total:
        starts.append(starts[-1] + (first if len(starts) == 1 else rest))
    return [(start, end) for start, end in zip(starts, [*starts[1:], None], strict=True)]


def plan_audio_pieces(request: ScriptRequest, path: Path, max_duration_s: float,
                      avatar_exists: bool) -> list[Sentence]:
    """The request's pieces in order. Raises LookupError for an unknown avatar, ValueError
    (the errors of models.speech.audio_file among them) for a file that is missing, not
    audio, empty or too long: the request's fault, so the job fails."""
    if not avatar_exists:
        raise LookupError(f"unknown avatar_id {request.avatar_id!r}")
    if request.audio_upload is None or not path.is_file():
        raise ValueError(f"no audio file {request.audio_upload!r} in the job's audio folder")
    info = probe_audio_file(path, max_duration_s)
    job = JobRef(job_id=request.job_id, avatar_id=request.avatar_id, voice_id=request.voice_id,
                 options=request.options, submitted_at=request.submitted_at, tenant=request.tenant,
                 priority=request.priority)
    bounds = piece_bounds(info.duration_s, request.options.fps)
    return [Sentence(job=job, seq=seq, count=len(bounds), text="",
                     audio=AudioPiece(upload=request.audio_upload, start_sample=start, end_sample=end))
            for seq, (start, end) in enumerate(bounds)]


def piece_utterance(store: MediaStore, sentence: Sentence) -> Utterance:
    """A piece's samples, as the tts stage's speech would be (no words: audio jobs have no
    captions)."""
    piece = sentence.audio
    if piece is None:
        raise ValueError("not an audio piece")
    path = store.job_audio_path(sentence.job.job_id, piece.upload)
    return Utterance(decode_piece(path, piece.start_sample, piece.end_sample), OUT_RATE_HZ)
