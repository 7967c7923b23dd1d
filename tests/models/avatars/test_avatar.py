"""Avatar preparation and storage with the real astronaut photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.avatars.avatar import Avatar, avatar_from_image, load_avatar, save_avatar
from models.avatars.face import FaceNotFoundError
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar, sample_image


@pytest.fixture(scope="module")
def astronaut() -> Avatar:
    return sample_avatar()


def test_sample_avatar_is_the_astronaut_photo(astronaut: Avatar) -> None:
    assert astronaut.avatar_id == SAMPLE_AVATAR_ID == "astronaut"
    assert astronaut.frames.shape == (1, 512, 512, 3)
    assert astronaut.frames.dtype == np.uint8
    np.testing.assert_array_equal(astronaut.frames[0], sample_image())
    assert len(astronaut.faces) == 1
    assert astronaut.fps == 25


def test_large_photo_is_downscaled_and_even() -> None:
    big = cv2.resize(sample_image(), (1001, 1501), interpolation=cv2.INTER_CUBIC)
    avatar = avatar_from_image(big, "big", "Big", max_side=640)
    _, h, w, _ = avatar.frames.shape
    assert max(h, w) <= 640 and h % 2 == 0 and w % 2 == 0
    assert abs(h - 640) <= 1 and abs(w - round(1001 * 640 / 1501)) <= 1
    x0, y0, x1, y1 = avatar.faces[0].box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_odd_sizes_lose_at_most_one_pixel() -> None:
    odd = np.ascontiguousarray(sample_image()[:511, :509])
    avatar = avatar_from_image(odd, "odd", "Odd")
    assert avatar.frames.shape == (1, 510, 508, 3)
    np.testing.assert_array_equal(avatar.frames[0], odd[:510, :508])


def test_photo_without_face_is_rejected() -> None:
    from skimage import data

    with pytest.raises(FaceNotFoundError):
        avatar_from_image(data.coffee(), "coffee", "Coffee")


def test_frame_index_ping_pongs(astronaut: Avatar) -> None:
    assert [astronaut.frame_index(g) for g in range(5)] == [0] * 5
    frames = np.repeat(astronaut.frames, 4, axis=0)
    clip = Avatar("clip", "Clip", frames, astronaut.faces * 4)
    assert [clip.frame_index(g) for g in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    two = Avatar("two", "Two", frames[:2], astronaut.faces * 2)
    assert [two.frame_index(g) for g in range(4)] == [0, 1, 0, 1]


def test_avatar_rejects_bad_frames(astronaut: Avatar) -> None:
    with pytest.raises(ValueError):
        Avatar("odd", "Odd", astronaut.frames[:, :511], astronaut.faces)
    with pytest.raises(ValueError):
        Avatar("n", "N", np.repeat(astronaut.frames, 2, axis=0), astronaut.faces)


def test_save_load_round_trip(astronaut: Avatar, tmp_path: Path) -> None:
    target = tmp_path / "avatars" / "astronaut"
    save_avatar(astronaut, target)
    loaded = load_avatar(target)
    assert (loaded.avatar_id, loaded.name, loaded.fps) == (astronaut.avatar_id, astronaut.name, astronaut.fps)
    np.testing.assert_array_equal(loaded.frames, astronaut.frames)
    assert loaded.frames.dtype == np.uint8
    for a, b in zip(loaded.faces, astronaut.faces):
        assert a.box == b.box
        np.testing.assert_array_equal(a.mouth, b.mouth)
        np.testing.assert_array_equal(a.jaw, b.jaw)
        np.testing.assert_array_equal(a.inner_mouth, b.inner_mouth)


def test_save_replaces_existing_and_leaves_no_temp_dirs(astronaut: Avatar, tmp_path: Path) -> None:
    target = tmp_path / "astronaut"
    save_avatar(astronaut, target)
    renamed = Avatar(astronaut.avatar_id, "Renamed", astronaut.frames, astronaut.faces, fps=30)
    save_avatar(renamed, target)
    loaded = load_avatar(target)
    assert (loaded.name, loaded.fps) == ("Renamed", 30)
    assert [p.name for p in tmp_path.iterdir()] == ["astronaut"]


def test_load_missing_avatar_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no avatar at"):
        load_avatar(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="half"):
        load_avatar(tmp_path / "half")
