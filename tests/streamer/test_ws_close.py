"""Close reasons fit the 123 bytes a close frame allows, cut where a character ends."""

from __future__ import annotations

from streamer.ws_close import MAX_REASON_BYTES, fit_reason


def test_short_reasons_are_kept_long_ones_cut_at_a_character() -> None:
    assert fit_reason("unknown job 'abc'") == "unknown job 'abc'"
    exact = "x" * MAX_REASON_BYTES
    assert fit_reason(exact) == exact
    for text in ("a" * 500, "é" * 100, "x" + "日本" * 60, "unknown job '" + "🙂" * 40 + "'"):
        cut = fit_reason(text)
        assert len(cut.encode()) <= MAX_REASON_BYTES and cut.endswith("…")
        assert text.startswith(cut[:-1]) and len(cut.encode()) > MAX_REASON_BYTES - 6  # not cut short
