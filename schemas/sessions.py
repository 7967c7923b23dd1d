"""Live sessions: the HTTP bodies, the messages a client sends, and the session-input topic.

A session is a job whose sentences arrive over time. Its input is one stream of messages,
keyed by session id on the session-input topic: `say`, `interrupt` and `end` are what a
WebSocket client sends and what another system may produce, the same models for both;
`open` (written by the gateway) and `idle` (written by the stage's own timer) are the
service's. The stage keeps each session's state (SessionState) in a changelogged table.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.base import AVATAR_ID_PATTERN, JOB_ID_PATTERN, Message, PlainText
from schemas.options import RenderOptions
from schemas.pipeline import JobRef
from schemas.requests import DEFAULT_AVATAR_ID, DEFAULT_VOICE_ID, MAX_SCRIPT_CHARS, VoiceId

SESSION_STAGE = "sessions"  # the stage name on the status events of the session stage
SESSION_ID_PREFIX = "session-"  # session ids are `session-` + 32 hex; job ids never start so
MAX_SAY_CHARS = 4_000
MAX_PENDING_CHARS = MAX_SCRIPT_CHARS  # text said but not yet at a boundary
MAX_IDLE_S = 24 * 3600


class SessionRequest(Message):
    avatar_id: str = Field(DEFAULT_AVATAR_ID, pattern=AVATAR_ID_PATTERN)
    voice_id: VoiceId = DEFAULT_VOICE_ID
    options: RenderOptions = RenderOptions()
    idle_timeout_s: float | None = Field(None, gt=0, le=MAX_IDLE_S, description="close the session "
                                         "after this long without a `say` (at most the server's "
                                         "AVATAR_SESSION_IDLE_S, which is the default)")


class SessionResponse(Message):
    session_id: str
    state: str
    stream_url: str = Field(description="the session's one WebSocket: `say`/`interrupt`/`end` in, "
                                        "the job stream protocol out")
    status_url: str
    video_url: str = Field(description="the session's whole timeline as one MP4, once it ended")


class SessionSay(Message):
    """Text to speak; `final: false` text may end mid-sentence (tokens as an LLM writes them):
    it is spoken as sentences or long clauses complete, and `final: true` speaks the rest."""

    type: Literal["say"] = "say"
    text: PlainText = Field("", max_length=MAX_SAY_CHARS)
    final: bool = True


class SessionInterrupt(Message):
    """Drop what is queued and what is speaking: the avatar falls silent and idle."""

    type: Literal["interrupt"] = "interrupt"


class SessionEnd(Message):
    """No more input: what was said is spoken, then the session completes like a job."""

    type: Literal["end"] = "end"


class SessionOpen(Message):
    """Written by the gateway when the session is created: whose it is and how it renders."""

    type: Literal["open"] = "open"
    job: JobRef
    idle_timeout_s: float = Field(gt=0, le=MAX_IDLE_S)


class SessionIdle(Message):
    """Written by the session stage's timer: the session had no `say` since `last_say_at`."""

    type: Literal["idle"] = "idle"
    last_say_at: float


ClientMessage = Annotated[SessionSay | SessionInterrupt | SessionEnd, Field(discriminator="type")]
SessionInput = Annotated[SessionSay | SessionInterrupt | SessionEnd | SessionOpen | SessionIdle,
                         Field(discriminator="type")]
CLIENT_MESSAGES: TypeAdapter[SessionSay | SessionInterrupt | SessionEnd] = TypeAdapter(ClientMessage)
SESSION_INPUT: TypeAdapter[SessionSay | SessionInterrupt | SessionEnd | SessionOpen | SessionIdle] = (
    TypeAdapter(SessionInput))


class SessionInputRecord(Message):
    """The session-input topic's value (JSON, key: session id): one message of the session."""

    session_id: str = Field(pattern=JOB_ID_PATTERN)
    message: SessionInput
    sent_at: float | None = Field(None, description="unix seconds, when the producer wrote it")


class SessionState(Message):
    """One session as the `session-state` table keeps it (key: session id)."""

    job: JobRef = Field(description="with the session's current epoch (interrupts so far)")
    idle_timeout_s: float
    next_seq: int = Field(0, ge=0, description="the next sentence's number on the session's timeline")
    pending: str = Field("", description="text said but not yet at a sentence or clause boundary")
    last_text: str | None = Field(None, description="the utterance's last sentence, for voice continuity")
    in_utterance: bool = False
    last_offset: int = Field(-1, description="the newest session-input offset applied: a redelivery "
                                             "at or below it is skipped")
    last_say_at: float
    ended: bool = False
