"""Face geometry from the real preparation path: the astronaut has one face, coffee/cat/flat none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from models.avatars.face import FaceGeometry
from models.avatars.prep import UnusableAvatarError, prepare_frames
from models.avatars.sample import sample_avatar


@pytest.fixture(scope="module")
def astronaut_face() -> FaceGeometry:
    return sample_avatar().faces[0]


def _inside(points: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    return bool(np.all((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)))


def test_astronaut_face_box_contains_mouth(astronaut_face: FaceGeometry) -> None:
    x0, y0, x1, y1 = astronaut_face.box
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert 60 <= x1 - x0 <= 200 and 60 <= y1 - y0 <= 200  # a head-sized box, not the whole photo
    assert astronaut_face.mouth.shape == (20, 2) and astronaut_face.mouth.dtype == np.float32
    assert astronaut_face.jaw.shape == (19, 2) and astronaut_face.jaw.dtype == np.float32
    assert astronaut_face.inner_mouth.shape == (20, 2)
    assert _inside(astronaut_face.mouth, astronaut_face.box)
    assert _inside(astronaut_face.jaw, astronaut_face.box)
    # Mouth sits in the lower half of the face, above the chin.
    assert astronaut_face.mouth[:, 1].mean() > (y0 + y1) / 2
    assert astronaut_face.jaw[:, 1].max() > astronaut_face.mouth[:, 1].max()


def test_mouth_corners_are_left_and_right(astronaut_face: FaceGeometry) -> None:
    mouth = astronaut_face.mouth
    width = abs(mouth[10, 0] - mouth[0, 0])
    assert width > 25  # corners, not two points on the same side
    assert width > np.ptp(mouth[:, 1])


@pytest.mark.parametrize("image", [
    data.coffee(),
    data.chelsea(),
    np.full((256, 320, 3), 128, np.uint8),
], ids=["coffee", "cat", "flat"])
def test_no_face_is_found_where_there_is_none(image: np.ndarray) -> None:
    h, w = image.shape[:2]
    with pytest.raises(UnusableAvatarError, match="no face found"):
        prepare_frames(np.ascontiguousarray(image[None, : h - h % 2, : w - w % 2]), "x", "X",
                       source_kind="photo")


def test_geometry_json_round_trip(astronaut_face: FaceGeometry) -> None:
    back = FaceGeometry.from_json(astronaut_face.to_json())
    assert back.box == astronaut_face.box
    np.testing.assert_array_equal(back.mouth, astronaut_face.mouth)
    np.testing.assert_array_equal(back.jaw, astronaut_face.jaw)
    np.testing.assert_array_equal(back.inner_mouth, astronaut_face.inner_mouth)


def test_imports_are_light() -> None:
    """Importing models/ must not load MediaPipe or any streaming/web stack."""
    code = (
        "import sys, models.avatars.face, models.avatars.avatar, models.lipsync.animator, models.avatars.prep\n"
        "import models.avatars.face_track, models.avatars.quality, models.avatars.media_read, models.avatars.sample\n"
        "import models.media.frame_size\n"
        "bad = [m for m in ('mediapipe', 'faust', 'aiokafka', 'starlette', 'schemas') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.stdout.strip() == ""
