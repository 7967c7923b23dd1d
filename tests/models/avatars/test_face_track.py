"""Face tracking through a real encoded clip whose head motion is known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.avatars.avatar import Avatar
from models.avatars.face_track import fill_gaps, smooth
from models.avatars.prep import MASK_PX, PrepSettings, prepare_file, prepare_frames
from models.avatars.sample import make_clip, render_frames

W, H, FPS = 640, 480, 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Avatar, np.ndarray]:
    path = tmp_path_factory.mktemp("clip") / "moving.mp4"
    maps = make_clip(path, seconds=2.0, width=W, height=H, fps=FPS)
    return prepare_file(path, "moving", "Moving"), maps


@pytest.fixture(scope="module")
def photo_box() -> np.ndarray:
    """The face box of the unmoved photo (identity map, on a canvas with margin), in photo pixels."""
    margin = 100
    identity = np.array([[[1.0, 0.0, margin], [0.0, 1.0, margin]]])
    still = prepare_frames(render_frames(identity, 512 + 2 * margin, 512 + 2 * margin), "still", "Still")
    return np.array(still.faces[0].box, np.float64) - margin


def test_boxes_follow_known_motion_on_every_frame(clip: tuple[Avatar, np.ndarray], photo_box: np.ndarray) -> None:
    avatar, maps = clip
    assert avatar.frames.shape == (len(maps), H, W, 3) and avatar.source_kind == "video"
    x0, y0, x1, y1 = photo_box
    for i, (face, m) in enumerate(zip(avatar.faces, maps)):
        s, tx, ty = m[0, 0], m[0, 2], m[1, 2]
        expected = np.array([x0 * s + tx, y0 * s + ty, x1 * s + tx, y1 * s + ty])
        face_px = min(expected[2] - expected[0], expected[3] - expected[1])
        error = np.abs(np.array(face.box, np.float64) - expected).max()
        assert error <= 0.05 * face_px, f"frame {i}: box {face.box} vs {expected.round(1)}"
    # The motion is real: the face travels further than the tolerance.
    centres = np.array([((f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2) for f in avatar.faces])
    assert np.ptp(centres[:, 0]) > 60 and np.ptp(centres[:, 1]) > 30


def test_landmarks_crops_and_masks(clip: tuple[Avatar, np.ndarray]) -> None:
    avatar, _ = clip
    assert avatar.masks is not None and avatar.masks.shape == (len(avatar.faces), MASK_PX, MASK_PX)
    for face, mask in zip(avatar.faces, avatar.masks):
        x0, y0, x1, y1 = face.box
        assert face.crop == (x0, y0, x1, min(H, y1 + 10))  # default pads: bottom 10, like Wav2Lip
        for points in (face.mouth, face.inner_mouth):
            assert np.all((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1))
        assert face.mouth[:, 1].mean() > (y0 + y1) / 2  # the mouth is in the lower half
        # Feathered: fully on at the mouth, off at the crop's top, soft values in between.
        cx0, cy0, cx1, cy1 = face.crop
        mx = int((face.mouth[:, 0].mean() - cx0) * MASK_PX / (cx1 - cx0))
        my = int((face.mouth[:, 1].mean() - cy0) * MASK_PX / (cy1 - cy0))
        assert mask[my, mx] >= 240 and mask[:10].max() == 0
        assert ((mask > 0) & (mask < 255)).sum() > 50


def test_quality_of_the_moving_clip(clip: tuple[Avatar, np.ndarray]) -> None:
    avatar, _ = clip
    q = avatar.quality
    assert q is not None and q.frames == len(avatar.faces)
    assert q.one_face_share == 1.0 and q.no_face_share == 0.0 and q.verdict in ("good", "warning")
    assert 70 < q.median_face_px < 140
    assert q.sharpness > 30 and 60 < q.brightness < 220 and q.contrast > 20
    assert q.yaw_range_deg < 30 and q.pitch_range_deg < 30  # moved and zoomed, never turned


def test_smoothing_is_zero_phase() -> None:
    t = np.arange(100, dtype=np.float64)
    ramp = np.stack([3.0 * t + 7, -0.5 * t], axis=1)
    np.testing.assert_allclose(smooth(ramp, 2.0), ramp, atol=1e-9)  # a steady motion is not lagged, even at the ends
    wave = np.sin(2 * np.pi * t / 40)
    smoothed = smooth(wave, 2.0)
    assert int(np.argmax(smoothed[:40])) == int(np.argmax(wave[:40]))  # peaks stay where they were
    noisy = wave + np.random.default_rng(0).normal(0, 0.2, t.shape)
    assert np.abs(smooth(noisy, 2.0) - wave).mean() < 0.5 * np.abs(noisy - wave).mean()


def test_gaps_are_interpolated() -> None:
    values = np.array([[0.0], [99.0], [99.0], [30.0]])
    valid = np.array([True, False, False, True])
    np.testing.assert_allclose(fill_gaps(values, valid)[:, 0], [0, 10, 20, 30])
    with pytest.raises(ValueError):
        fill_gaps(values, np.zeros(4, bool))


def test_trims_long_videos_and_resamples_to_the_output_rate(tmp_path: Path) -> None:
    from models.avatars.sample import head_motion, write_clip

    maps = head_motion(100, 50, 480, 360)
    path = tmp_path / "fast.mp4"
    write_clip(path, render_frames(maps, 480, 360), fps=50)  # 2 s at 50 fps
    avatar = prepare_file(path, "fast", "Fast", PrepSettings(max_duration_s=1.0))
    assert avatar.frames.shape[0] == 25 and avatar.fps == 25  # 1 s at 25 fps
