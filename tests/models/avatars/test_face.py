"""Face detection on real photos: the astronaut has one face, coffee/flat images none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from models.avatars.face import FaceGeometry, FaceNotFoundError, detect_face


@pytest.fixture(scope="module")
def astronaut_face() -> FaceGeometry:
    return detect_face(data.astronaut())


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
def test_no_face_raises(image: np.ndarray) -> None:
    with pytest.raises(FaceNotFoundError):
        detect_face(image)


def test_face_not_found_is_value_error() -> None:
    assert issubclass(FaceNotFoundError, ValueError)


def test_largest_face_wins() -> None:
    astro = data.astronaut()
    small = cv2.resize(astro, (384, 384), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 384 + 512, 3), 200, np.uint8)
    canvas[:384, :384] = small
    canvas[:, 384:] = astro
    face = detect_face(canvas)
    assert face.box[0] >= 384  # the full-size face on the right
    assert _inside(face.mouth, face.box)


def test_rejects_non_rgb_input() -> None:
    with pytest.raises(ValueError):
        detect_face(data.astronaut().astype(np.float32))
    with pytest.raises(ValueError):
        detect_face(data.camera())


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
        "bad = [m for m in ('mediapipe', 'faust', 'aiokafka', 'starlette', 'schemas') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.stdout.strip() == ""
