"""Where avatars, segments and final files live on disk (a shared volume in production).

Ids are validated by the schemas before they get here; `_safe` checks again so
no path built here can leave the store's root. Layout of the avatar part:
`avatars/{id}/` (written whole by models.avatars.avatar.save_avatar, renamed into place)
and `uploads/{name}` (an upload waiting for the avatars stage; its temp files
are `uploads/.{name}.part`). Both work on a volume shared by gateway and workers.
A job's segments lie in `jobs/{id}/segments/` as `init.mp4` and `{seq:06d}.m4s`, each
beside its record's SegmentMeta (`init.json`, `{seq:06d}.json`), so a segment replayed
from disk keeps the timing its record carried.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from models.avatars.avatar import SUMMARY_FILE, THUMBNAIL_FILE, AvatarSummary
from schemas.avatars import UPLOAD_NAME_PATTERN
from schemas.base import JOB_ID_PATTERN
from schemas.pipeline import SegmentMeta

_ID = re.compile(JOB_ID_PATTERN)  # avatar ids follow the same rule


_NAME = re.compile(UPLOAD_NAME_PATTERN)


def _safe_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"invalid file name {name!r}")
    return name


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _safe(identifier: str) -> str:
    if not _ID.match(identifier):
        raise ValueError(f"invalid id {identifier!r}")
    return identifier


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def avatar_dir(self, avatar_id: str) -> Path:
        return self.root / "avatars" / _safe(avatar_id)

    def has_avatar(self, avatar_id: str) -> bool:
        try:
            return (self.avatar_dir(avatar_id) / "avatar.json").exists()
        except ValueError:
            return False

    def avatar_summary(self, avatar_id: str) -> AvatarSummary | None:
        """The small record (name, size, quality) of a ready avatar; None when absent or unreadable."""
        try:
            path = self.avatar_dir(avatar_id) / SUMMARY_FILE
            return AvatarSummary.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, OSError, KeyError, TypeError):
            return None

    def avatar_ids(self) -> list[str]:
        """Ready avatars (temp and old dirs start with '.', so they never show)."""
        root = self.root / "avatars"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if _ID.match(p.name) and (p / "avatar.json").exists())

    def thumbnail_path(self, avatar_id: str) -> Path:
        return self.avatar_dir(avatar_id) / THUMBNAIL_FILE

    def delete_avatar(self, avatar_id: str) -> bool:
        """Renamed away first, so readers see it whole or not at all; False when absent."""
        directory = self.avatar_dir(avatar_id)
        if not directory.exists():
            return False
        trash = Path(tempfile.mkdtemp(prefix=f".{avatar_id}.", suffix=".del", dir=directory.parent))
        os.replace(directory, trash / "avatar")
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def upload_path(self, name: str) -> Path:
        return self.root / "uploads" / _safe_name(name)

    def new_upload_part(self, name: str) -> Path:
        """A temp path beside the upload; rename it to upload_path(name) once complete."""
        final = self.upload_path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.with_name(f".{final.name}.part")

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / _safe(job_id)

    def segment_path(self, job_id: str, kind: str, seq: int) -> Path:
        name = "init.mp4" if kind == "init" else f"{seq:06d}.m4s"
        return self.job_dir(job_id) / "segments" / name

    def final_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "final.mp4"

    def segment_meta_path(self, job_id: str, kind: str, seq: int) -> Path:
        return self.segment_path(job_id, kind, seq).with_suffix(".json")

    def write_segment(self, job_id: str, kind: str, seq: int, data: bytes) -> bool:
        """Atomic; returns False when the segment was already stored (a redelivery)."""
        path = self.segment_path(job_id, kind, seq)
        if path.exists():
            return False
        _write_atomic(path, data)
        return True

    def write_segment_record(self, meta: SegmentMeta, data: bytes) -> bool:
        """A segment record, its metadata first: whoever finds the bytes finds their timing.
        Returns False when the segment was already stored (a redelivery)."""
        if self.segment_path(meta.job_id, meta.kind, meta.seq).exists():
            return False
        _write_atomic(self.segment_meta_path(meta.job_id, meta.kind, meta.seq), meta.to_json())
        return self.write_segment(meta.job_id, meta.kind, meta.seq, data)

    def segment_meta(self, job_id: str, kind: str, seq: int) -> SegmentMeta | None:
        """The stored record's metadata; None when it was stored without (or is unreadable)."""
        try:
            return SegmentMeta.from_json(self.segment_meta_path(job_id, kind, seq).read_bytes())
        except (OSError, ValueError):
            return None

    def read_segments(self, job_id: str, total: int) -> tuple[bytes, list[bytes]]:
        """The init segment and media segments 0..total-1; raises FileNotFoundError on a gap."""
        init = self.segment_path(job_id, "init", 0).read_bytes()
        return init, [self.segment_path(job_id, "media", i).read_bytes() for i in range(total)]

    def delete_job(self, job_id: str) -> int:
        """Removes the job's files; returns the bytes they held."""
        size = 0
        for path in self.job_dir(job_id).rglob("*"):
            with contextlib.suppress(OSError):  # gone meanwhile
                size += path.stat().st_size if path.is_file() else 0
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return size

    def idle_jobs(self, before: float) -> list[str]:
        """Ids of the jobs whose folders nothing has changed since `before` (unix seconds):
        a folder's time moves whenever a file is added to it or removed."""
        idle = []
        for folder in (self.root / "jobs").glob("*") if (self.root / "jobs").is_dir() else ():
            if not _ID.match(folder.name) or not folder.is_dir():
                continue
            try:
                newest = max(p.stat().st_mtime for p in (folder, *folder.iterdir()))
            except OSError:  # removed meanwhile
                continue
            if newest < before:
                idle.append(folder.name)
        return idle

    def job_audio_path(self, job_id: str, name: str) -> Path:
        """An audio job's own file (`jobs/{id}/audio/{name}`): deleted with the job's files."""
        return self.job_dir(job_id) / "audio" / _safe_name(name)
