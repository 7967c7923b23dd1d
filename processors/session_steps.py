"""What one session-input message does to a session: pure, so a redelivery does the same.

A session is a job whose sentences arrive over time: each sentence goes on with the next
number on the session's one timeline. Only the last sentence (the one `end` or the idle
timeout adds, empty: one silent frame) carries the count, which ends the job. An interrupt
raises the session's epoch; what was made before it is silenced by every stage
(processors/context.py `superseded`), and an empty sentence of the old epoch cuts the
audio held for context, so nothing of the old speech waits for the new.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.session_text import take_ready
from schemas.pipeline import Sentence
from schemas.sessions import (
    MAX_PENDING_CHARS,
    SessionEnd,
    SessionIdle,
    SessionInterrupt,
    SessionOpen,
    SessionSay,
    SessionState,
)


class Refused(ValueError):
    """The message cannot apply to the session (unknown, ended, open twice): a dead letter."""


@dataclass(frozen=True)
class Step:
    state: SessionState
    sentences: list[Sentence] = field(default_factory=list)
    message: str | None = None  # what the session's status says after it
    epoch: int | None = None  # on an interrupt: the new epoch, for every stage
    ended: bool = False


@dataclass(frozen=True)
class Splitting:
    max_chars: int
    first_max_chars: int


def _said(state: SessionState, pieces: list[str], final: bool, rest: str) -> tuple[list[Sentence], SessionState]:
    """Sentences for `pieces`, numbered on from the state; with `final` the last ends the
    utterance (an empty one when nothing is left to say but audio is held)."""
    if final and not pieces and state.in_utterance:
        pieces = [""]
    out = [Sentence(job=state.job, seq=state.next_seq + i, text=text,
                    previous_text=state.last_text if i == 0 else pieces[i - 1],
                    next_text=pieces[i + 1] if i + 1 < len(pieces) else None,
                    starts_utterance=i == 0 and not state.in_utterance,
                    ends_utterance=final and i == len(pieces) - 1)
           for i, text in enumerate(pieces)]
    last = next((s.text for s in reversed(out) if s.text), state.last_text)
    return out, state.model_copy(update={
        "next_seq": state.next_seq + len(out), "pending": rest,
        "last_text": None if final else last,
        "in_utterance": (state.in_utterance or bool(out)) and not final})


def _ended(state: SessionState, message: str, split: Splitting) -> Step:
    pieces, _ = take_ready(state.pending, True, not state.in_utterance, split.max_chars,
                           split.first_max_chars)
    said, state = _said(state, pieces, True, "")
    end = Sentence(job=state.job, seq=state.next_seq, count=state.next_seq + 1, text="",
                   ends_utterance=True)
    state = state.model_copy(update={"next_seq": state.next_seq + 1, "ended": True})
    return Step(state, [*said, end], message, ended=True)


def apply(state: SessionState | None, message: SessionOpen | SessionSay | SessionInterrupt | SessionEnd
          | SessionIdle, session_id: str, offset: int, now: float, split: Splitting) -> Step | None:
    """The step `message` (at `offset` of the session-input partition) takes; None when it
    changes nothing (an idle check a later `say` overtook). Raises Refused."""
    if isinstance(message, SessionOpen):
        if state is not None:
            raise Refused(f"session {session_id!r} is open already")
        if message.job.job_id != session_id:
            raise Refused(f"an open record keyed {session_id!r} names session {message.job.job_id!r}")
        opened = SessionState(job=message.job, idle_timeout_s=message.idle_timeout_s,
                              last_say_at=now, last_offset=offset)
        return Step(opened, message="session open: waiting for `say`")
    if state is None:
        raise Refused(f"unknown session {session_id!r}")
    if state.ended:
        if isinstance(message, SessionIdle):
            return None
        raise Refused(f"session {session_id!r} has ended; open a new one")
    state = state.model_copy(update={"last_offset": offset})
    if isinstance(message, SessionIdle):
        if message.last_say_at != state.last_say_at:
            return None
        return _ended(state, f"session closed: no `say` for {state.idle_timeout_s:g} s", split)
    if isinstance(message, SessionEnd):
        return _ended(state, "session ended: finishing what was said", split)
    if isinstance(message, SessionInterrupt):
        flush = ([Sentence(job=state.job, seq=state.next_seq, text="", ends_utterance=True)]
                 if state.in_utterance else [])
        epoch = state.job.epoch + 1
        state = state.model_copy(update={
            "job": state.job.model_copy(update={"epoch": epoch}), "pending": "", "last_text": None,
            "in_utterance": False, "next_seq": state.next_seq + len(flush)})
        return Step(state, flush, "interrupted: speech dropped", epoch=epoch)
    pending = state.pending + message.text
    if len(pending) > MAX_PENDING_CHARS:
        raise Refused(f"over {MAX_PENDING_CHARS} characters said without a sentence end")
    pieces, rest = take_ready(pending, message.final, not state.in_utterance, split.max_chars,
                              split.first_max_chars)
    said, state = _said(state.model_copy(update={"last_say_at": now}), pieces, message.final, rest)
    return Step(state, said, f"speaking sentence {said[-1].seq + 1}" if said else None)
