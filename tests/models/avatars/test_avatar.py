"""Avatar preparation and storage with the real astronaut photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.avatars.avatar import SUMMARY_FILE, Avatar, AvatarSummary, load_avatar, save_avatar
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


def test_summary_file_round_trips_with_its_keys(astronaut: Avatar, tmp_path: Path) -> None:
    save_avatar(astronaut, tmp_path / "a")
    data = json.loads((tmp_path / "a" / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert list(data) == ["avatar_id", "name", "fps", "frames", "width", "height", "source_kind",
                          "created_at", "quality"]
    summary = AvatarSummary.from_json(data)
    assert summary == AvatarSummary.of(astronaut) and summary.to_json() == data
    assert (summary.frames, summary.width, summary.height, summary.source_kind) == (1, 512, 512, "photo")
    assert summary.quality is not None and summary.quality == astronaut.quality


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
