"""Where avatars, segments and final files live on disk (a shared volume in production).

Ids are validated by the schemas before they get here; `_safe` checks again so
no path built here can leave the store's root.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


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

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / _safe(job_id)

    def segment_path(self, job_id: str, kind: str, seq: int) -> Path:
        name = "init.mp4" if kind == "init" else f"{seq:06d}.m4s"
        return self.job_dir(job_id) / "segments" / name

    def final_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "final.mp4"

    def write_segment(self, job_id: str, kind: str, seq: int, data: bytes) -> bool:
        """Atomic; returns False when the segment was already stored (a redelivery)."""
        path = self.segment_path(job_id, kind, seq)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return True

    def read_segments(self, job_id: str, total: int) -> tuple[bytes, list[bytes]]:
        """The init segment and media segments 0..total-1; raises FileNotFoundError on a gap."""
        init = self.segment_path(job_id, "init", 0).read_bytes()
        return init, [self.segment_path(job_id, "media", i).read_bytes() for i in range(total)]

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
