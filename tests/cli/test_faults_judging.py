"""The fault bench's audio check can fail: real segments encoded on their own (PyAV, as the
encoder stage makes them) follow their source speech, and the same audio judged against a
source with a block of samples lost, or a click at a boundary, does not pass."""

from __future__ import annotations

import numpy as np

from cli.faults import MIN_BOUNDARY_SNR_DB, MIN_SNR_DB, Arrival, Watched, audio_against_source
from tests.models.media.test_encode import CHUNKS, SPF, encode_job, sine

TOTAL = sum(CHUNKS) * SPF


def _watched() -> tuple[Watched, list[float]]:
    segments = encode_job()
    watched = Watched("job", init=segments[0].init,
                      media=[Arrival(k, s.start_s, s.media, 0.0) for k, s in enumerate(segments)])
    return watched, [s.start_s for s in segments[1:]]


def test_segments_made_apart_follow_the_source() -> None:
    watched, boundaries = _watched()
    whole, worst = audio_against_source(watched, sine(0, TOTAL).astype(np.float64), boundaries)
    assert whole >= MIN_SNR_DB and worst >= MIN_BOUNDARY_SNR_DB, (whole, worst)


def test_a_lost_block_of_samples_is_seen() -> None:
    watched, boundaries = _watched()
    source = sine(0, TOTAL + 1024).astype(np.float64)
    cut = 10 * SPF  # the first boundary: everything after it 1024 samples out of step
    shifted = np.concatenate([source[:cut], source[cut + 1024:]])
    whole, _ = audio_against_source(watched, shifted, boundaries)
    assert whole < MIN_SNR_DB, whole


def test_a_click_at_a_boundary_is_seen() -> None:
    watched, boundaries = _watched()
    source = sine(0, TOTAL).astype(np.float64)
    at = 35 * SPF
    source[at - 200:at + 200] = 0.0  # what the viewer heard differs there: a gap in the source
    _, worst = audio_against_source(watched, source, boundaries)
    assert worst < MIN_BOUNDARY_SNR_DB, worst
