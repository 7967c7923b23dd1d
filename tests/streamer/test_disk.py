"""A nearly full media volume: new work is refused with 507 and the reason, `/health` says
degraded, and reading what exists goes on."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamer.disk import free_mb
from tests.streamer.app_util import completed_job, offline_client

FULL = 10**9  # MB: more than any disk here has free, so the volume counts as full


def test_free_space_of_a_path_not_made_yet(tmp_path: Path) -> None:
    assert abs(free_mb(tmp_path / "not" / "yet") - shutil.disk_usage(tmp_path).free / 2**20) < 64


def test_new_work_is_refused_while_the_volume_is_full(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path, min_free_mb=FULL)
    for path, kwargs in (("/api/v1/generate", {"json": {"text": "Hello."}}),
                         ("/api/v1/batch", {"json": {"scripts": [{"text": "Hello."}]}}),
                         ("/api/v1/avatars/train", {"files": {"file": ("a.png", b"x", "image/png")}})):
        response = client.post(path, **kwargs)
        assert response.status_code == 507, (path, response.text)
        body = response.json()
        assert "AVATAR_MIN_FREE_MB" in body["error"] and body["detail"] == {"min_free_mb": FULL}, path
    health = client.get("/health").json()
    assert health["degraded"] and any("MB free" in reason for reason in health["reasons"])

    completed_job(state, "done", b"mp4 bytes")  # what is there is still served
    assert client.get("/api/v1/video/done").content == b"mp4 bytes"


def test_a_threshold_of_zero_turns_the_check_off(tmp_path: Path) -> None:
    client, _ = offline_client(tmp_path, min_free_mb=0)
    assert not any("MB free" in reason for reason in client.get("/health").json()["reasons"])
    assert client.post("/api/v1/generate", json={"text": "Hello."}).status_code != 507
