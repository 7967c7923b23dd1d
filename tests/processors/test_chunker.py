"""The chunker stage's planning: a request's checks and its Sentence records."""

from __future__ import annotations

import dataclasses

import pytest

from core.settings import ElevenLabsSettings
from processors.chunker import plan_sentences
from processors.settings import WorkerSettings
from schemas.options import RenderOptions
from schemas.requests import ScriptRequest

TEXT = ("Hello there. This is a test of the chunker, with a second sentence that goes on. "
        "And a third!")


def request(text: str = TEXT, voice_id: str = "piper:joe") -> ScriptRequest:
    return ScriptRequest(job_id="job-1", text=text, avatar_id="astro", voice_id=voice_id,
                         options=RenderOptions(fps=20, chunk_frames=30), submitted_at=12.5)


def test_sentences_are_numbered_in_order_with_their_neighbours() -> None:
    sentences = plan_sentences(request(), WorkerSettings(), avatar_exists=True)
    assert [s.text for s in sentences] == [
        "Hello there.", "This is a test of the chunker, with a second sentence that goes on.",
        "And a third!"]
    assert [s.seq for s in sentences] == [0, 1, 2] and {s.count for s in sentences} == {3}
    assert [s.previous_text for s in sentences] == [None, sentences[0].text, sentences[1].text]
    assert [s.next_text for s in sentences] == [sentences[1].text, sentences[2].text, None]
    job = sentences[0].job
    assert (job.job_id, job.avatar_id, job.voice_id, job.submitted_at) == ("job-1", "astro",
                                                                           "piper:joe", 12.5)
    assert job.options == RenderOptions(fps=20, chunk_frames=30)
    assert all(s.job == job for s in sentences)


def test_the_settings_bound_the_sentence_length() -> None:
    long = ", ".join(["one more clause"] * 30) + "."
    settings = WorkerSettings(max_sentence_chars=100, first_sentence_chars=30)
    sentences = plan_sentences(request(long), settings, avatar_exists=True)
    assert len(sentences) > 5 and len(sentences[0].text) <= 30
    assert max(len(s.text) for s in sentences) <= 100
    assert " ".join(s.text for s in sentences).split() == long.split()  # nothing lost


def test_unknown_avatar_or_voice_and_an_empty_script_are_refused() -> None:
    settings = WorkerSettings()
    with pytest.raises(LookupError, match="unknown avatar_id 'astro'"):
        plan_sentences(request(), settings, avatar_exists=False)
    with pytest.raises(LookupError, match="unknown voice_id 'piper:nobody'"):
        plan_sentences(request(voice_id="piper:nobody"), settings, avatar_exists=True)
    with pytest.raises(LookupError, match="unknown voice_id 'elevenlabs:rachel'"):
        plan_sentences(request(voice_id="elevenlabs:rachel"), settings, avatar_exists=True)
    with_key = dataclasses.replace(settings, elevenlabs=ElevenLabsSettings(api_key="k"))
    assert len(plan_sentences(request(voice_id="elevenlabs:rachel"), with_key, True)) == 3
    with pytest.raises(ValueError, match="no words to speak"):
        plan_sentences(request("... !!"), settings, avatar_exists=True)
