"""The avatars stage: an upload built into a stored avatar, and the outcome message from the
quality verdict of the avatar just built."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from core.settings import AvatarSettings
from core.store import MediaStore
from models.avatars.avatar import Avatar, load_avatar
from models.avatars.prep import UnusableAvatarError
from models.avatars.sample import sample_avatar, sample_image
from processors.avatars import build_avatar, outcome_message, prep_settings
from schemas.avatars import AvatarTrainRequest


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


def upload(store: MediaStore, name: str, rgb: np.ndarray) -> AvatarTrainRequest:
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path = store.upload_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png.tobytes())
    return AvatarTrainRequest(avatar_id=name.split(".")[0], name="Test", upload=name,
                              size_bytes=len(png))


def test_the_outcome_message_names_the_avatars_verdict(avatar: Avatar) -> None:
    assert avatar.quality is not None and avatar.quality.verdict == "good"
    assert outcome_message(avatar) == "ready (good)"
    warning = dataclasses.replace(avatar.quality, verdict="warning")
    warned = dataclasses.replace(avatar, quality=warning)
    assert outcome_message(warned) == "ready (warning)"
    assert outcome_message(dataclasses.replace(avatar, quality=None)) == "ready (good)"


def test_build_avatar_stores_the_avatar_it_returns(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    request = upload(store, "astro.png", sample_image())
    ticks: list[float] = []
    built = build_avatar(store, request, prep_settings(AvatarSettings()), ticks.append)
    assert store.has_avatar("astro") and built.avatar_id == "astro" and built.name == "Test"
    stored = load_avatar(store.avatar_dir("astro"))
    assert built.quality is not None and stored.quality == built.quality
    assert outcome_message(built) == f"ready ({stored.quality.verdict})"
    assert np.array_equal(stored.frames, built.frames)
    assert ticks and ticks == sorted(ticks) and ticks[-1] == 1.0


def test_a_faceless_upload_fails_and_stores_nothing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    request = upload(store, "coffee.png", data.coffee())
    with pytest.raises(UnusableAvatarError):
        build_avatar(store, request, prep_settings(AvatarSettings()), lambda _f: None)
    assert not store.has_avatar("coffee")
