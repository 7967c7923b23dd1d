"""The audio form of POST /api/v1/generate, refused at the gateway: each limit with its own
status and reason, no server path in a message, and nothing left in the media store.
(An accepted upload runs through the real stack in tests/e2e/test_audio_jobs.py.)"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import pytest

from processors.avatars import ensure_sample_avatar
from tests.models.speech.audio_fixtures import write_audio
from tests.streamer.app_util import offline_client


def _post(tmp_path: Path, audio: bytes | None, fields: dict[str, str] | None = None,
          **settings: Any) -> tuple[int, dict[str, Any]]:
    client, state = offline_client(tmp_path, **settings)
    ensure_sample_avatar(state.store)
    files = {} if audio is None else {"audio": ("voice.wav", audio, "audio/wav")}
    if not files:  # still a multipart body: a plain field
        files = {"note": (None, b"x")}
    response = client.post("/api/v1/generate", files=files, data=fields or {})
    assert str(tmp_path) not in response.text and ".part" not in response.text
    assert not list((tmp_path / "jobs").glob("*")), "a refused upload left files behind"
    assert state.board.all() == []  # nothing was queued
    return response.status_code, response.json()


@pytest.fixture
def wav(tmp_path: Path) -> bytes:
    return write_audio(tmp_path / "fixture", "wav", 2.0).read_bytes()


def test_over_the_size_limit_is_a_413(tmp_path: Path, wav: bytes) -> None:
    status, body = _post(tmp_path / "store", wav, audio_max_bytes=len(wav) - 1)
    assert status == 413 and f"over {len(wav) - 1} bytes" in body["error"]


def test_not_audio_is_a_415_without_the_servers_path(tmp_path: Path) -> None:
    status, body = _post(tmp_path / "store", b"just some text, no sound\n" * 100)
    assert status == 415 and "not decodable audio" in body["error"]


def test_too_long_and_empty_are_a_422(tmp_path: Path, wav: bytes) -> None:
    status, body = _post(tmp_path / "a", wav, audio_max_s=1.5)
    assert status == 422 and "longer than 1.5 s" in body["error"] and body["detail"] == {"max_s": 1.5}
    status, body = _post(tmp_path / "b", b"")
    assert status == 422 and body["error"] == "the audio file is empty"
    header_only = io.BytesIO()
    with wave.open(header_only, "wb") as out:  # a WAV header and no samples
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
    status, body = _post(tmp_path / "c", header_only.getvalue())
    assert status == 422 and "0 s" in body["error"]


def test_the_fields_are_checked_as_the_json_bodys(tmp_path: Path, wav: bytes) -> None:
    status, body = _post(tmp_path / "a", wav, {"options": "{not json"})
    assert status == 422 and body["detail"] == {"field": "options"}
    status, body = _post(tmp_path / "b", wav, {"options": '{"fps": 7}'})
    assert status == 422 and body["detail"][0]["loc"][:2] == ["options", "fps"]
    status, body = _post(tmp_path / "c", wav, {"text": "Hello."})
    assert status == 422 and "not both" in body["error"]
    status, body = _post(tmp_path / "d", wav, {"avatar_id": "nobody"})
    assert status == 404 and "nobody" in body["error"]
    status, body = _post(tmp_path / "e", wav, {"voice_id": "piper:joe"})
    assert status == 422  # no voice speaks an audio job


def test_a_form_without_the_audio_part_is_a_400(tmp_path: Path) -> None:
    status, body = _post(tmp_path / "store", None)
    assert status == 400 and "'audio'" in body["error"]


def test_openapi_documents_both_bodies_and_the_audio_limits(tmp_path: Path) -> None:
    client, _ = offline_client(tmp_path)
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/generate"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["audio"] and form["properties"]["audio"]["format"] == "binary"
    assert "AVATAR_AUDIO_MAX_S" in form["description"]
    assert {"400", "404", "413", "415", "422"} <= set(operation["responses"])
