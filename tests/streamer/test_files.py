"""Videos and thumbnails: ETag revalidation answers 304, Range errors are JSON like every 4xx."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.files import etag_matches
from tests.streamer.app_util import completed_job, offline_client

VIDEO = bytes(range(256)) * 40


@pytest.mark.parametrize("path", ["/api/v1/video/done", "/api/v1/avatars/face/thumbnail"])
def test_if_none_match_answers_304(tmp_path: Path, path: str) -> None:
    client, state = offline_client(tmp_path)
    completed_job(state, "done", VIDEO)
    thumb = state.store.thumbnail_path("face")
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(b"\xff\xd8 a jpeg")
    first = client.get(path)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"')
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, header
    changed = client.get(path, headers={"If-None-Match": '"an-older-copy"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_range_errors_are_json(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path)
    completed_job(state, "done", VIDEO)
    part = client.get("/api/v1/video/done", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == VIDEO[10:20]
    beyond = client.get("/api/v1/video/done", headers={"Range": f"bytes={len(VIDEO)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-type"] == "application/json"
    assert beyond.json()["error"] and beyond.headers["content-range"] == f"bytes */{len(VIDEO)}"
    backwards = client.get("/api/v1/video/done", headers={"Range": "bytes=9-3"})
    assert backwards.status_code == 400 and "start must be less than end" in backwards.json()["error"]
    units = client.get("/api/v1/video/done", headers={"Range": "pages=1-2"})
    assert units.status_code == 400 and units.json()["error"]


def test_etag_comparison() -> None:
    assert etag_matches('"a", W/"b"', '"b"') and etag_matches(" * ", '"x"')
    assert not etag_matches(None, '"x"') and not etag_matches('"xy"', '"x"')
