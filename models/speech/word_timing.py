"""Word timings for captions: from a backend's character alignment, or estimated.

ElevenLabs reports when each character is spoken; Piper reports nothing, so its
words are spread over the voiced part of the sentence in proportion to their
length, which is close enough for captions that change word by word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Word", "estimate_words", "words_from_characters"]

# Below this absolute int16 level a sample counts as silence (about -50 dBFS).
_SILENCE_LEVEL = 100


@dataclass(frozen=True)
class Word:
    """A spoken word, times in seconds from the start of its utterance."""

    text: str
    start_s: float
    end_s: float


def words_from_characters(
    characters: Sequence[str], starts_s: Sequence[float], ends_s: Sequence[float]
) -> list[Word]:
    """Group aligned characters into whitespace-separated words."""
    words: list[Word] = []
    text, start, end = "", 0.0, 0.0
    for char, char_start, char_end in zip(characters, starts_s, ends_s, strict=True):
        if char.isspace():
            if text:
                words.append(Word(text, start, end))
            text = ""
            continue
        if not text:
            start = float(char_start)
        text += char
        end = max(float(char_end), start)
    if text:
        words.append(Word(text, start, end))
    return words


def estimate_words(text: str, samples: np.ndarray, sample_rate_hz: int) -> list[Word]:
    """Spread ``text``'s words over the voiced span of ``samples`` by character count."""
    tokens = text.split()
    if not tokens or len(samples) == 0:
        return []
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE_LEVEL)
    first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(samples))
    start_s, span_s = first / sample_rate_hz, (last - first) / sample_rate_hz
    weights = np.array([len(t) + 1 for t in tokens], dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * span_s + start_s
    return [Word(t, float(edges[i]), float(edges[i + 1])) for i, t in enumerate(tokens)]
