"""The script request: what external producers write to the requests topic."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from schemas.base import (
    AVATAR_ID_PATTERN,
    DEFAULT_TENANT,
    JOB_ID_PATTERN,
    TENANT_PATTERN,
    Message,
    PlainText,
    Priority,
)
from schemas.options import RenderOptions

AUDIO_UPLOAD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

MAX_SCRIPT_CHARS = 20_000
DEFAULT_AVATAR_ID = "astronaut"
DEFAULT_VOICE_ID = "piper:joe"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text is empty or whitespace only")
    return text


# Text to speak, over HTTP and on Kafka alike. minLength is documented only: the validator's
# own message ("empty or whitespace only") says more than a length error would.
SpokenText = Annotated[PlainText, AfterValidator(_not_blank), Field(json_schema_extra={"minLength": 1})]
VoiceId = Annotated[PlainText, Field(max_length=128)]


class ScriptRequest(Message):
    """Keyed by job_id on the requests topic; the job_id is chosen by the producer.

    One job_id names one job: the same request again (same content and submitted_at) is a
    redelivery and harmless, a different one for a job_id in use is refused (a dead letter,
    and the job's status message says so). A record keyed by anything but its job_id fails.
    """

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    text: SpokenText | None = Field(None, max_length=MAX_SCRIPT_CHARS, description="required unless audio_upload is given")
    avatar_id: str = Field(DEFAULT_AVATAR_ID, pattern=AVATAR_ID_PATTERN)
    voice_id: VoiceId = DEFAULT_VOICE_ID
    options: RenderOptions = RenderOptions()
    submitted_at: float | None = Field(None, description="unix seconds, for latency accounting")
    tenant: str = Field(DEFAULT_TENANT, pattern=TENANT_PATTERN,
                        description="the owner: the sha256 hex digest of its API key (set by the gateway)")
    webhook_url: str | None = Field(None, max_length=2048, description="where the job's final "
                                    "state is POSTed, signed (README: Webhooks)")
    audio_upload: str | None = Field(None, pattern=AUDIO_UPLOAD_PATTERN, description=(
        "speak this file instead of text: its name in the job's audio folder of the media store, "
        "jobs/{job_id}/audio/ (README: Your own audio); voice_id is then unused"))

    priority: Priority = Field("live", description="live: started when a slot is free, before any "
                               "batch job; batch: started and served only on spare capacity")

    @model_validator(mode="after")
    def _text_or_audio(self) -> ScriptRequest:
        if (self.text is None) == (self.audio_upload is None):
            raise ValueError("give either text or audio_upload, not both or neither")
        return self
