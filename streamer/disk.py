"""Free space on the media volume: below `AVATAR_MIN_FREE_MB` new work is refused (507)
and `/health` says degraded, so a filling disk stops taking jobs instead of failing every
running one; the threshold is the room those running jobs still need to finish."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamer.state import GatewayState


def free_mb(path: Path) -> float:
    """Free megabytes (2**20 bytes) on the volume holding `path` (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


def low_space(state: GatewayState) -> str | None:
    """Why the media volume is too full for new work; None while it is not."""
    minimum = state.settings.min_free_mb
    if minimum <= 0:
        return None
    free = free_mb(state.settings.data_dir)
    if free >= minimum:
        return None
    return (f"the media volume has {free:.0f} MB free, below AVATAR_MIN_FREE_MB ({minimum} MB): "
            "new work is refused until space is freed; running jobs go on")

