"""Messages validate on the way in and survive their one serializer unchanged."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from schemas.avatars import AvatarTrainRequest
from schemas.base import PLAIN_TEXT_PATTERN
from schemas.export import EXPORTED, write_json_schemas
from schemas.http import GenerateRequest
from schemas.options import AUDIO_SAMPLE_RATE_HZ, RenderOptions
from schemas.pipeline import AudioChunkMeta, JobRef, SegmentMeta
from schemas.requests import ScriptRequest
from schemas.speech import TtsRequest
from schemas.status import JobState, StatusEvent
from schemas.ws import KIND_MEDIA, MediaMessage


@pytest.mark.parametrize("text", ["", " ", "\n\t  "])
def test_blank_script_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="empty or whitespace"):
        ScriptRequest(job_id="j1", text=text)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_on_kafka_and_http_alike(char: str) -> None:
    """One validator in the schema: a record written straight to Kafka is refused as an HTTP body is."""
    text = f"Hello{char}world."
    for make in (lambda: ScriptRequest(job_id="j1", text=text), lambda: GenerateRequest(text=text),
                 lambda: TtsRequest(text=text), lambda: ScriptRequest(job_id="j1", text="Hi.", voice_id=text),
                 lambda: AvatarTrainRequest(avatar_id="a", name=text, upload="a", size_bytes=1)):
        with pytest.raises(ValidationError, match=f"control character U\\+{ord(char):04X} at index 5"):
            make()
    assert ScriptRequest(job_id="j1", text="Tabs\tand\nlines\r\nstay, as does ünïcödé — “quoted”.").text


def test_text_constraints_are_in_the_json_schema() -> None:
    import re

    text = GenerateRequest.model_json_schema()["properties"]["text"]
    assert text["minLength"] == 1 and text["maxLength"] == 20_000 and text["pattern"] == PLAIN_TEXT_PATTERN
    pattern = re.compile(PLAIN_TEXT_PATTERN)  # the JSON Schema pattern refuses what the validator refuses
    assert pattern.match("Tab\there.\n") and not pattern.match("NUL\x00") and not pattern.match("C1\x85")


@pytest.mark.parametrize("job_id", ["", "../etc", "a/b", "-lead", "x" * 65, "sp ace"])
def test_job_ids_are_path_safe(job_id: str) -> None:
    with pytest.raises(ValidationError):
        ScriptRequest(job_id=job_id, text="Hello.")


def test_unknown_fields_and_bad_fps_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ScriptRequest.from_json(b'{"job_id": "j", "text": "hi", "speed": 2}')
    with pytest.raises(ValidationError, match="divide"):
        RenderOptions(fps=30)
    assert RenderOptions(fps=40).fps == 40


def test_the_pipeline_audio_rate_is_the_one_models_default_to() -> None:
    """schemas/ may not import models/, so the rate is written twice; they must agree."""
    from models.lipsync.mel import SAMPLE_RATE_HZ

    assert AUDIO_SAMPLE_RATE_HZ == SAMPLE_RATE_HZ


def test_json_round_trip_and_defaults() -> None:
    request = ScriptRequest.from_json(b'{"job_id": "abc", "text": "Hi there."}')
    assert request.avatar_id == "astronaut" and request.voice_id == "piper:joe" and request.v == 1
    assert ScriptRequest.from_json(request.to_json()) == request


def test_binary_metadata_travels_in_headers() -> None:
    job = JobRef(job_id="j", avatar_id="astronaut", voice_id="piper:joe")
    meta = AudioChunkMeta(job=job, seq=3, sentence_seq=1, frame_start=40, n_frames=25,
                          sample_rate_hz=16000, is_last=False, context_before_samples=3200)
    headers = meta.to_headers()
    assert AudioChunkMeta.from_headers(headers) == meta
    assert AudioChunkMeta.from_headers(dict(headers)) == meta
    with pytest.raises(ValueError, match="meta"):
        SegmentMeta.from_headers([("type", b"x")])


def test_status_states() -> None:
    assert JobState.FAILED.final and JobState.COMPLETED.final and not JobState.RUNNING.final
    event = StatusEvent(job_id="j", state=JobState.RUNNING, stage="tts", at=1.0, progress=0.5)
    assert StatusEvent.from_json(event.to_json()) == event
    with pytest.raises(ValidationError):
        StatusEvent(job_id="j", state=JobState.RUNNING, stage="tts", at=1.0, progress=1.5)


def test_media_message_header() -> None:
    message = MediaMessage(KIND_MEDIA, 7, 1.24, 0.96, b"\x00\x01moof")
    packed = message.pack()
    assert len(packed) == 21 + 6
    assert MediaMessage.unpack(packed) == message


def test_json_schema_files(tmp_path: Path) -> None:
    paths = write_json_schemas(tmp_path)
    assert {p.name for p in paths} == {f"{m.__name__}.schema.json" for m in EXPORTED}
    schema = orjson.loads((tmp_path / "ScriptRequest.schema.json").read_bytes())
    assert set(schema["required"]) == {"job_id"}  # and text or audio_upload (one of the two)
    assert {"text", "audio_upload"} <= set(schema["properties"])
    assert schema["properties"]["job_id"]["pattern"].startswith("^")
    assert schema["additionalProperties"] is False
