"""A session's messages as sentences: boundaries in partial text, numbering on one timeline,
the count only on the end, interrupts and idle closing."""

from __future__ import annotations

import pytest

from processors.session_steps import Refused, Splitting, Step, apply
from processors.session_text import take_ready
from schemas.pipeline import JobRef
from schemas.sessions import (
    SessionEnd,
    SessionIdle,
    SessionInterrupt,
    SessionOpen,
    SessionSay,
    SessionState,
)

SPLIT = Splitting(max_chars=240, first_max_chars=80)
JOB = JobRef(job_id="session-a", avatar_id="astronaut", voice_id="piper:joe")


def _run(*messages: SessionOpen | SessionSay | SessionInterrupt | SessionEnd | SessionIdle
         ) -> tuple[SessionState, list[Step]]:
    state, steps = None, []
    for offset, message in enumerate(messages):
        step = apply(state, message, "session-a", offset, 100.0 + offset, SPLIT)
        if step is not None:
            steps.append(step)
            state = step.state
    assert state is not None
    return state, steps


def test_partial_text_waits_for_a_boundary_the_splitter_agrees_with() -> None:
    assert take_ready("Hello there. How are", False, True, 240, 80) == (["Hello there."], "How are")
    assert take_ready("Dr. Smith is here", False, True, 240, 80) == ([], "Dr. Smith is here")
    assert take_ready("Hello there.", False, True, 240, 80) == ([], "Hello there.")  # maybe "Hello there..."
    assert take_ready("Hello there.", True, True, 240, 80) == (["Hello there."], "")
    long = "This is a long sentence without an end yet, which keeps going and going on for a while"
    assert take_ready(long, False, True, 240, 80)[0] == ["This is a long sentence without an end yet,"]


def test_sentences_number_on_across_utterances_and_only_the_end_has_a_count() -> None:
    state, steps = _run(SessionOpen(job=JOB, idle_timeout_s=5), SessionSay(text="Hi. How", final=False),
                        SessionSay(text=" are you?", final=True), SessionSay(text="Bye."), SessionEnd())
    sentences = [s for step in steps for s in step.sentences]
    assert [(s.seq, s.text, s.count) for s in sentences] == [
        (0, "Hi.", None), (1, "How are you?", None), (2, "Bye.", None), (3, "", 4)]
    assert [(s.starts_utterance, s.ends_utterance) for s in sentences] == [
        (True, False), (False, True), (True, True), (False, True)]
    assert sentences[1].previous_text == "Hi." and sentences[2].previous_text is None
    assert state.ended and sentences[-1].is_last
    with pytest.raises(Refused, match="has ended"):
        apply(state, SessionSay(text="More."), "session-a", 9, 200.0, SPLIT)


def test_an_interrupt_raises_the_epoch_and_cuts_the_old_utterance() -> None:
    state, steps = _run(SessionOpen(job=JOB, idle_timeout_s=5), SessionSay(text="One. Two", final=False),
                        SessionInterrupt(), SessionSay(text="Three."))
    assert steps[2].epoch == 1 and state.job.epoch == 1 and state.pending == ""
    [cut] = steps[2].sentences
    assert cut.job.epoch == 0 and cut.text == "" and cut.ends_utterance  # the old epoch, silent
    [three] = steps[3].sentences
    assert three.job.epoch == 1 and three.seq == cut.seq + 1 and three.starts_utterance


def test_idle_closes_only_a_session_no_say_came_to_since() -> None:
    state, _ = _run(SessionOpen(job=JOB, idle_timeout_s=5), SessionSay(text="Hi."))
    assert apply(state, SessionIdle(last_say_at=state.last_say_at - 1), "session-a", 5, 300.0, SPLIT) is None
    step = apply(state, SessionIdle(last_say_at=state.last_say_at), "session-a", 5, 300.0, SPLIT)
    assert step is not None and step.ended and step.message == "session closed: no `say` for 5 s"
    assert [s.count for s in step.sentences] == [2]


def test_input_for_an_unknown_or_reopened_session_is_refused() -> None:
    with pytest.raises(Refused, match="unknown session"):
        apply(None, SessionSay(text="Hi."), "session-a", 0, 1.0, SPLIT)
    state, _ = _run(SessionOpen(job=JOB, idle_timeout_s=5))
    with pytest.raises(Refused, match="open already"):
        apply(state, SessionOpen(job=JOB, idle_timeout_s=5), "session-a", 1, 1.0, SPLIT)
