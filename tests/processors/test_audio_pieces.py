"""An audio job's pieces: frame-aligned, covering the file, a short first one, and decoded
pieces that add up to the file's own samples."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from core.store import MediaStore
from models.speech.audio_file import decode_piece
from processors.audio_pieces import FIRST_PIECE_S, piece_bounds, piece_utterance, plan_audio_pieces
from schemas.options import RenderOptions
from schemas.requests import ScriptRequest
from tests.models.speech.audio_fixtures import write_audio


@pytest.mark.parametrize("duration_s", [0.01, 1.99, 2.0, 8.0, 8.01, 600.0])
def test_bounds_cover_the_file_on_frame_boundaries(duration_s: float) -> None:
    bounds = piece_bounds(duration_s, 25)
    assert bounds[0][0] == 0 and bounds[-1][1] is None
    for (_, end), (start, _) in itertools.pairwise(bounds):
        assert end == start and start % 640 == 0  # 16 kHz / 25 fps
    if len(bounds) > 1:
        assert bounds[0][1] == round(FIRST_PIECE_S * 16_000)  # the first piece is short
        assert bounds[-1][0] < duration_s * 16_000  # no empty piece at the end


def _request(**fields: object) -> ScriptRequest:
    return ScriptRequest(job_id="job-a", audio_upload="source", voice_id="own-audio",
                         options=RenderOptions(), **fields)  # type: ignore[arg-type]


def test_pieces_decode_to_the_whole_file(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    path = store.job_audio_path("job-a", "source")
    path.parent.mkdir(parents=True)
    write_audio(tmp_path / "src", "wav", 9.5).rename(path)
    sentences = plan_audio_pieces(_request(), path, 600, avatar_exists=True)
    assert [s.seq for s in sentences] == [0, 1, 2] and {s.count for s in sentences} == {3}
    samples = np.concatenate([piece_utterance(store, s).samples for s in sentences])
    assert np.array_equal(samples, decode_piece(path, 0, None)) and len(samples) == 9.5 * 16_000


def test_a_missing_file_or_avatar_fails_the_job(tmp_path: Path) -> None:
    path = MediaStore(tmp_path).job_audio_path("job-a", "source")
    with pytest.raises(ValueError, match="no audio file 'source'"):
        plan_audio_pieces(_request(), path, 600, avatar_exists=True)
    with pytest.raises(LookupError, match="unknown avatar_id"):
        plan_audio_pieces(_request(), path, 600, avatar_exists=False)
