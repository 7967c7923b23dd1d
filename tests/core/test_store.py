"""The media store's avatar part: listing, summaries, atomic delete, safe upload names."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import AvatarSettings
from core.store import MediaStore
from models.avatars.avatar import save_avatar
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar
from models.lipsync.animator import MouthAnimator
from processors.avatar_cache import AvatarCache, store_loader
from processors.avatars import prep_settings
from schemas.pipeline import SegmentMeta


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MediaStore:
    store = MediaStore(tmp_path_factory.mktemp("store"))
    save_avatar(sample_avatar(), store.avatar_dir(SAMPLE_AVATAR_ID))
    return store


def test_summary_listing_and_thumbnail(store: MediaStore) -> None:
    (store.root / "avatars" / ".half.tmp").mkdir()  # a save in progress is never listed
    assert store.avatar_ids() == [SAMPLE_AVATAR_ID]
    summary = store.avatar_summary(SAMPLE_AVATAR_ID)
    assert summary is not None and summary.quality is not None and summary.quality.verdict == "good"
    assert summary.frames == 1 and (summary.width, summary.height) == (512, 512)
    assert store.thumbnail_path(SAMPLE_AVATAR_ID).read_bytes()[:2] == b"\xff\xd8"
    assert store.avatar_summary("missing") is None and store.avatar_summary("../x") is None


def test_cache_loads_prepared_avatars(store: MediaStore) -> None:
    animator = AvatarCache(store_loader(store), MouthAnimator, capacity=1).get(SAMPLE_AVATAR_ID)
    assert animator.avatar.quality is not None and animator.avatar.masks is not None


def test_delete_is_atomic_and_idempotent(store: MediaStore, tmp_path: Path) -> None:
    other = MediaStore(tmp_path)
    save_avatar(sample_avatar(), other.avatar_dir("doomed"))
    assert other.delete_avatar("doomed") and not other.has_avatar("doomed")
    assert not other.delete_avatar("doomed")
    assert sorted(p.name for p in (tmp_path / "avatars").iterdir()) == []


def test_segment_records_keep_their_metadata_beside_the_bytes(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    init = SegmentMeta(job_id="j", kind="init", seq=0, mime="video/mp4")
    media = SegmentMeta(job_id="j", kind="media", seq=0, start_s=0.0, duration_s=0.4)
    assert store.write_segment_record(init, b"init") and store.write_segment_record(media, b"moof")
    assert not store.write_segment_record(media.model_copy(update={"duration_s": 9.0}), b"other")
    assert store.read_segments("j", 1) == (b"init", [b"moof"])
    assert store.segment_meta("j", "init", 0) == init and store.segment_meta("j", "media", 0) == media
    assert store.segment_meta("j", "media", 1) is None
    store.delete_job("j")
    assert store.segment_meta("j", "init", 0) is None


def test_upload_names_cannot_leave_the_store(store: MediaStore) -> None:
    part = store.new_upload_part("abc123")
    assert part.parent == store.root / "uploads" and part.name.startswith(".")
    for bad in ("../etc/passwd", "a/b", "..", ".hidden", ""):
        with pytest.raises(ValueError):
            store.upload_path(bad)


def test_settings_from_env() -> None:
    settings = AvatarSettings.from_env({"AVATAR_PADS": "1,2,3,4", "AVATAR_MAX_DURATION_S": "4.5",
                                        "AVATAR_UPLOAD_MAX_BYTES": "123"})
    prep = prep_settings(settings)
    assert prep.pads == (1, 2, 3, 4) and prep.max_duration_s == 4.5 and settings.upload_max_bytes == 123
    with pytest.raises(ValueError):
        AvatarSettings.from_env({"AVATAR_PADS": "1,2"})
