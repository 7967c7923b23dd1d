"""Avatars through the real gateway, broker and worker: upload, train, use, delete; bad uploads."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from skimage import data

from cli.stack import Stack
from core.store import MediaStore
from models.avatars.sample import SAMPLE_AVATAR_ID, make_clip, sample_image
from tests.e2e.gateway_util import final_status
from tests.models.avatars.test_prep import huge_png

W, H = 480, 360


def _image_bytes(rgb: np.ndarray, ext: str) -> bytes:
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("upload") / "talk.mp4"
    make_clip(path, seconds=1.0, width=W, height=H)
    return path.read_bytes()


async def _upload(http: httpx.AsyncClient, payload: bytes, filename: str, name: str | None = "Test") -> httpx.Response:
    form = {} if name is None else {"name": name}
    return await http.post("/api/v1/avatars/train", data=form, files={"file": (filename, payload)})


async def _settled(http: httpx.AsyncClient, avatar_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await http.get(f"/api/v1/avatars/{avatar_id}")
        assert response.status_code == 200, response.text
        record = response.json()
        if record["state"] in ("ready", "failed"):
            return record  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"avatar {avatar_id} did not settle in {timeout_s}s")


async def test_upload_train_use_and_delete(stack: Stack, clip_bytes: bytes) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await _upload(http, clip_bytes, "talk.mp4", name="Talking head")
        assert response.status_code == 202, response.text
        body = response.json()
        avatar_id = body["avatar_id"]
        assert body["status_url"] == f"/api/v1/avatars/{avatar_id}"

        record = await _settled(http, avatar_id)
        assert record["state"] == "ready", record
        assert (record["name"], record["source_kind"], record["frames"]) == ("Talking head", "video", 25)
        assert (record["width"], record["height"]) == (W, H)
        quality = record["quality"]
        assert quality["verdict"] in ("good", "warning") and quality["one_face_share"] == 1.0
        thumb = await http.get(record["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR) is not None
        assert not list((stack.data_dir / "uploads").iterdir())  # the upload is gone once prepared

        listed = (await http.get("/api/v1/avatars", params={"limit": 100})).json()
        ids = [item["avatar_id"] for item in listed["items"]]
        assert avatar_id in ids and SAMPLE_AVATAR_ID in ids and listed["total"] >= 2
        page = (await http.get("/api/v1/avatars", params={"limit": 1, "offset": 1})).json()
        assert len(page["items"]) == 1 and page["items"][0]["avatar_id"] == ids[1]

        job = await http.post("/api/v1/generate", json={"text": "Hello from a new face.", "avatar_id": avatar_id})
        assert job.status_code == 202, job.text
        job_id = job.json()["job_id"]
        busy = await http.delete(f"/api/v1/avatars/{avatar_id}")
        assert busy.status_code == 409 and job_id in busy.json()["detail"]["jobs"]
        assert (await final_status(stack.url, job_id))["state"] == "completed"
        video = await http.get(f"/api/v1/video/{job_id}")
        assert video.status_code == 200
        with av.open(io.BytesIO(video.content)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (W, H)  # rendered on this avatar

        assert (await http.delete(f"/api/v1/avatars/{avatar_id}")).status_code == 204
        assert (await http.get(f"/api/v1/avatars/{avatar_id}")).status_code == 404
        assert not MediaStore(stack.data_dir).has_avatar(avatar_id)
        gone = await http.post("/api/v1/generate", json={"text": "Anyone there?", "avatar_id": avatar_id})
        assert gone.status_code == 404
        assert (await http.delete(f"/api/v1/avatars/{SAMPLE_AVATAR_ID}")).status_code == 409


async def test_photo_with_a_lying_extension_is_a_photo(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await _upload(http, _image_bytes(sample_image(), ".webp"), "movie.mp4")
        assert response.status_code == 202, response.text
        record = await _settled(http, response.json()["avatar_id"])
        assert record["state"] == "ready" and record["source_kind"] == "photo" and record["frames"] == 1


async def test_unusable_uploads_fail_with_their_reason(stack: Stack, clip_bytes: bytes, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        faceless = await _upload(http, _image_bytes(data.coffee(), ".png"), "coffee.png")
        assert faceless.status_code == 202
        avatar_id = faceless.json()["avatar_id"]
        record = await _settled(http, avatar_id)
        assert record["state"] == "failed" and "no face found" in record["error"]
        assert not MediaStore(stack.data_dir).has_avatar(avatar_id)
        assert "no face found" in (await http.get(f"/api/v1/status/{avatar_id}")).json()["error"]

        truncated = await _upload(http, clip_bytes[: len(clip_bytes) // 2], "cut.mp4")
        assert truncated.status_code == 415 and "truncated" in truncated.json()["error"]
        text = await _upload(http, b"not a video at all\n" * 100, "video.mp4")
        assert text.status_code == 415 and "not a readable video or photo" in text.json()["error"]
        bomb = await _upload(http, huge_png(tmp_path / "bomb.png", 30_000, 30_000).read_bytes(), "bomb.png")
        assert bomb.status_code == 413 and "30000x30000" in bomb.json()["error"]
        nameless = await _upload(http, clip_bytes, "talk.mp4", name=None)
        assert nameless.status_code == 422 and "name" in nameless.json()["error"]
        raw = await http.post("/api/v1/avatars/train", content=clip_bytes, headers={"content-type": "video/mp4"})
        assert raw.status_code == 415
        assert (await http.get("/api/v1/avatars/no-such-avatar")).status_code == 404
        assert (await http.get("/api/v1/avatars/..%2Fetc")).status_code in (400, 404)
    assert not [p for p in (stack.data_dir / "uploads").iterdir()]  # nothing half-made is left


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_cli_creates_an_avatar_or_says_why_not(tmp_path: Path, clip_bytes: bytes) -> None:
    clip = tmp_path / "talk.webm.jpg"  # the name lies; the content is an MP4
    clip.write_bytes(clip_bytes)
    done = _cli("--data-dir", str(tmp_path / "data"), "avatar", "create", str(clip), "--name", "Cli", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["state"] == "ready" and record["quality"]["one_face_share"] == 1.0
    assert MediaStore(tmp_path / "data").has_avatar(record["avatar_id"])
    assert "100%" in done.stderr  # the progress bar
    coffee = tmp_path / "coffee.png"
    coffee.write_bytes(_image_bytes(data.coffee(), ".png"))
    failed = _cli("--data-dir", str(tmp_path / "data"), "avatar", "create", str(coffee), "--name", "X", "--json")
    assert failed.returncode == 1 and "no face found" in failed.stderr
    assert json.loads(failed.stdout)["error"] == "no face found"
    assert MediaStore(tmp_path / "data").avatar_ids() == [record["avatar_id"]]
