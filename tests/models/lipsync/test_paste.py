"""Paste-back: feathered, colour-matched, and nothing outside the face crop changes."""

from __future__ import annotations

import numpy as np
import pytest

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.lipsync.paste import face_crop, paste, plan_paste


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


def test_only_the_lower_face_inside_the_crop_changes(avatar: Avatar) -> None:
    face = avatar.faces[0]
    plan = plan_paste(face, avatar.width, avatar.height)
    x0, y0, x1, y1 = plan.crop
    assert (x0, y0, x1, y1) == face_crop(face, avatar.width, avatar.height)
    original = avatar.frames[0, y0:y1, x0:x1]
    generated = np.random.default_rng(0).integers(0, 256, original.shape, dtype=np.uint8)
    out = paste(original, generated, plan)
    changed = np.any(out != original, axis=2)
    assert changed.any()
    assert not changed[plan.alpha == 0].any()  # bit-identical wherever the mask is zero
    border = np.ones_like(changed)
    border[3:-3, 3:-3] = False
    assert not changed[border].any()  # never at the crop's edge: no rectangle to see
    ys = np.nonzero(changed.any(axis=1))[0]
    mouth_y = face.mouth[:, 1].mean() - y0
    assert ys.min() > (y1 - y0) * 0.25 and ys.min() < mouth_y  # the lower face, not the eyes


def test_mask_is_feathered(avatar: Avatar) -> None:
    plan = plan_paste(avatar.faces[0], avatar.width, avatar.height)
    assert plan.alpha.max() == pytest.approx(1.0, abs=1e-3)
    partial = (plan.alpha > 0.02) & (plan.alpha < 0.98)
    assert partial.sum() > 0.2 * (plan.alpha >= 0.98).sum()
    assert np.abs(np.diff(plan.alpha, axis=0)).max() < 0.35  # no hard step anywhere


def test_colour_is_matched_to_the_photo(avatar: Avatar) -> None:
    plan = plan_paste(avatar.faces[0], avatar.width, avatar.height)
    x0, y0, x1, y1 = plan.crop
    original = avatar.frames[0, y0:y1, x0:x1]
    tinted = np.clip(original.astype(int) + [30, -20, 10], 0, 255).astype(np.uint8)  # a colour cast
    out = paste(original, tinted, plan)
    inside = plan.alpha > 0.9
    err = np.abs(out[inside].astype(int) - original[inside].astype(int)).mean(axis=0)
    assert np.all(err < 5), err  # the cast is removed, not blended in


def test_frame_outside_the_crop_is_bit_identical(avatar: Avatar) -> None:
    from models.lipsync.render import compose

    plan = plan_paste(avatar.faces[0], avatar.width, avatar.height)
    x0, y0, x1, y1 = plan.crop
    region = paste(avatar.frames[0, y0:y1, x0:x1], np.zeros((y1 - y0, x1 - x0, 3), np.uint8), plan)
    frame = compose(avatar, 0, plan.crop, region[None])[0]
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(frame[outside], avatar.frames[0][outside])
