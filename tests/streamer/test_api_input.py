"""Input checks through the whole app: JSON endpoints take only JSON (415), control characters
are a 422 everywhere, both list endpoints check `limit` alike, no server path in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.streamer.app_util import offline_client

JSON_ENDPOINTS = {"/api/v1/generate": {"text": "Hello."}, "/api/v1/batch": {"scripts": [{"text": "Hello."}]},
                  "/api/v1/tts": {"text": "Hello."}}


@pytest.mark.parametrize("path", sorted(JSON_ENDPOINTS))
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_json_endpoints_refuse_other_content_types(tmp_path: Path, path: str, content_type: str | None) -> None:
    """The types a cross-site form may send without a preflight, and none at all."""
    client, _ = offline_client(tmp_path)
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(path, content=b'{"text": "Hello."}', headers=headers)
    if path == "/api/v1/generate" and content_type and content_type.startswith("multipart/"):
        # the form of an audio job (tests/streamer/test_audio_jobs.py): this body is not one
        assert response.status_code == 400 and "malformed multipart" in response.json()["error"]
        return
    assert response.status_code == 415 and "application/json" in response.json()["error"]


@pytest.mark.parametrize("text", ["Hi\x00there.", "Esc \x1b[2J.", "Bell\x07.", "Del\x7f.", "C1\x9b."])
def test_control_characters_are_a_422_everywhere(tmp_path: Path, text: str) -> None:
    client, state = offline_client(tmp_path)
    bodies = {"/api/v1/generate": {"text": text}, "/api/v1/tts": {"text": text},
              "/api/v1/batch": {"scripts": [{"text": "Fine."}, {"text": text}]},
              "/api/v1/generate?voice": {"text": "Fine.", "voice_id": f"piper:{text}"}}
    for path, body in bodies.items():
        response = client.post(path.split("?")[0], json=body)
        assert response.status_code == 422, (path, response.text)
        assert "control character" in str(response.json()["detail"]), path
    upload = client.post("/api/v1/avatars/train", files={"file": ("a.jpg", b"\xff\xd8", "image/jpeg")},
                         data={"name": f"Me {text}"})
    assert upload.status_code == 422 and "'name': control character" in upload.json()["error"]
    assert state.board.all() == []  # nothing was queued


def test_both_list_endpoints_check_limit_and_offset_alike(tmp_path: Path) -> None:
    client, _ = offline_client(tmp_path)
    for path, high in (("/api/v1/jobs", 500), ("/api/v1/avatars", 100)):
        for params in ({"limit": 0}, {"limit": high + 1}, {"limit": "x"}, {"offset": -1}, {"offset": "1.5"}):
            response = client.get(path, params=params)
            assert response.status_code == 400 and response.json()["error"].split()[0] in params, (path, params)
        page = client.get(path, params={"limit": high, "offset": 0})
        assert page.status_code == 200 and page.json()["limit"] == high


def test_an_unusable_upload_does_not_show_the_servers_path(tmp_path: Path) -> None:
    client, _ = offline_client(tmp_path)
    response = client.post("/api/v1/avatars/train", files={"file": ("clip.mp4", b"not a video\n" * 50, "video/mp4")},
                           data={"name": "Nobody"})
    assert response.status_code == 415 and "not a readable video or photo" in response.json()["error"]
    assert str(tmp_path) not in response.text and ".part" not in response.text and "the upload" in response.text
    assert not list((tmp_path / "uploads").iterdir())
