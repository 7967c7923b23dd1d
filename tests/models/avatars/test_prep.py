"""Uploads of every kind, made here: good, faceless, truncated, mislabelled, huge, crowded."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from models.avatars.avatar import load_avatar, save_avatar
from models.avatars.media_read import MediaTooLargeError, UnusableMediaError, probe_media
from models.avatars.prep import PrepSettings, UnusableAvatarError, prepare_file
from models.avatars.sample import make_clip, sample_avatar, sample_image


def write_image(path: Path, rgb: np.ndarray, ext: str = ".png") -> Path:
    ok, data_ = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data_.tobytes())
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming width x height, with only a sliver of pixel data: a bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "talk.mp4"
    make_clip(path, seconds=1.0, width=480, height=360)
    return path


def test_photo_becomes_a_one_frame_avatar_with_a_good_report(tmp_path: Path) -> None:
    avatar = prepare_file(write_image(tmp_path / "me.jpg", sample_image(), ".jpg"), "me", "Me")
    assert avatar.frames.shape == (1, 512, 512, 3) and avatar.source_kind == "photo"
    q = avatar.quality
    assert q is not None and q.verdict == "good" and q.reasons == [] and q.one_face_share == 1.0
    assert q.yaw_range_deg == 0.0 and 60 < q.median_face_px < 200


def test_sample_avatar_goes_through_preparation() -> None:
    avatar = sample_avatar()
    assert avatar.quality is not None and avatar.quality.verdict == "good"
    assert avatar.masks is not None and avatar.faces[0].crop is not None


def test_type_comes_from_decoding_not_the_name(tmp_path: Path, clip_mp4: Path) -> None:
    photo_named_video = write_image(tmp_path / "face.mp4", sample_image(), ".png")
    assert probe_media(photo_named_video, 10**8).kind == "photo"
    assert prepare_file(photo_named_video, "a", "A").frames.shape[0] == 1
    video_named_photo = tmp_path / "clip.jpg"
    video_named_photo.write_bytes(clip_mp4.read_bytes())
    info = probe_media(video_named_photo, 10**8)
    assert info.kind == "video" and info.codec == "h264" and info.duration_s == pytest.approx(1.0, abs=0.1)
    assert prepare_file(video_named_photo, "b", "B").frames.shape[0] == 25


def test_photo_without_a_face_fails_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(UnusableAvatarError, match="no face found") as caught:
        prepare_file(write_image(tmp_path / "coffee.png", data.coffee()), "c", "C")
    assert caught.value.report.verdict == "unusable" and caught.value.report.no_face_share == 1.0


def test_several_faces_fail(tmp_path: Path) -> None:
    astro = sample_image()
    pair = np.concatenate([astro, astro], axis=1)
    with pytest.raises(UnusableAvatarError, match="several faces"):
        prepare_file(write_image(tmp_path / "pair.png", pair), "p", "P")


def test_truncated_mp4_fails(tmp_path: Path, clip_mp4: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip_mp4.read_bytes()[: clip_mp4.stat().st_size // 2])
    with pytest.raises(UnusableMediaError, match="truncated"):
        prepare_file(cut, "t", "T")


@pytest.mark.parametrize("payload", [b"just some text, not a video\n" * 50, b"", b"\x00" * 1000],
                         ids=["text", "empty", "zeros"])
def test_non_media_fails(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(payload)
    with pytest.raises(UnusableMediaError):
        probe_media(path, 10**8)


def test_huge_dimensions_are_refused_from_the_header(tmp_path: Path) -> None:
    bomb = huge_png(tmp_path / "bomb.png", 60_000, 60_000)
    start = time.perf_counter()
    with pytest.raises(MediaTooLargeError, match="60000x60000"):
        prepare_file(bomb, "h", "H")
    assert time.perf_counter() - start < 2.0  # refused before decoding 3.6 billion pixels
    real = write_image(tmp_path / "big.jpg", cv2.resize(sample_image(), (3000, 2000)), ".jpg")
    with pytest.raises(MediaTooLargeError):
        prepare_file(real, "r", "R", PrepSettings(max_pixels=4_000_000))
    assert prepare_file(real, "r", "R", PrepSettings(max_side=800)).frames.shape == (1, 532, 800, 3)


def test_blur_and_darkness_are_reported_as_warnings(tmp_path: Path) -> None:
    dim_blurry = (cv2.GaussianBlur(sample_image(), (0, 0), 3.0) * 0.25).astype(np.uint8)
    avatar = prepare_file(write_image(tmp_path / "dim.png", dim_blurry), "d", "D")
    q = avatar.quality
    assert q is not None and q.verdict == "warning"
    assert any("blurry" in r for r in q.reasons) and any("dark" in r for r in q.reasons)


def test_prepared_avatar_round_trips_with_report_masks_and_thumbnail(tmp_path: Path, clip_mp4: Path) -> None:
    avatar = prepare_file(clip_mp4, "talk", "Talk")
    target = tmp_path / "avatars" / "talk"
    save_avatar(avatar, target)
    loaded = load_avatar(target)
    assert loaded.quality == avatar.quality and loaded.source_kind == "video"
    assert loaded.masks is not None and avatar.masks is not None
    np.testing.assert_array_equal(loaded.masks, avatar.masks)
    assert [f.crop for f in loaded.faces] == [f.crop for f in avatar.faces]
    thumb = cv2.imdecode(np.frombuffer((target / "thumbnail.jpg").read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert thumb is not None and max(thumb.shape[:2]) == 256
