"""The streaming multipart parser: file to disk with a byte cap, fields kept small."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamer.uploads import UploadError, receive_upload

CAP = 10_000


Client = tuple[httpx.AsyncClient, dict[str, int]]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    seen: dict[str, int] = {}

    async def upload(request: Request) -> Response:
        dest = tmp_path / "upload.bin"
        try:
            result = await receive_upload(request, dest, max_file_bytes=CAP, max_field_bytes=100)
        except UploadError as exc:
            seen["written_at_refusal"] = dest.stat().st_size if dest.exists() else 0
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        return JSONResponse({"fields": result.fields, "bytes": result.file_bytes, "filename": result.filename,
                             "stored": dest.read_bytes() == bytes(range(256)) * (result.file_bytes // 256)})

    app = Starlette(routes=[Route("/u", upload, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http, seen


async def test_file_and_fields_arrive(client: Client) -> None:
    http, _ = client
    payload = bytes(range(256)) * 20
    response = await http.post("/u", data={"name": "Ada"}, files={"file": ("a.mov", payload)})
    assert response.status_code == 200
    assert response.json() == {"fields": {"name": "Ada"}, "bytes": 5120, "filename": "a.mov", "stored": True}


async def test_file_over_the_cap_is_refused_while_streaming(client: Client) -> None:
    http, seen = client
    response = await http.post("/u", files={"file": ("big.mp4", b"x" * (CAP * 5))})
    assert response.status_code == 413 and "over 10000 bytes" in response.json()["error"]
    assert seen["written_at_refusal"] <= CAP  # never more than the cap on disk


async def test_long_field_repeated_file_and_bad_bodies(client: Client) -> None:
    http, _ = client
    assert (await http.post("/u", data={"name": "n" * 500}, files={"file": ("a", b"1")})).status_code == 413
    twice = await http.post("/u", files=[("file", ("a", b"1")), ("file", ("b", b"2"))])
    assert twice.status_code == 400 and "more than one" in twice.json()["error"]
    assert (await http.post("/u", content=b"raw", headers={"content-type": "video/mp4"})).status_code == 415
    cut = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nhalf a file"
    early = await http.post("/u", content=cut, headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert early.status_code == 400 and "ended early" in early.json()["error"]
