"""`avatar-stream avatar create` and `avatar-stream bench-avatar`: avatars without Kafka.

Preparation runs in this process and writes to the media store under --data-dir,
where the gateway and the workers find it (the same layout the avatars stage writes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path


def _progress_bar(label: str) -> Callable[[float], None]:
    """A one-line bar on stderr, so stdout stays clean for --json."""

    def show(fraction: float) -> None:
        filled = int(fraction * 30)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}")
        sys.stderr.flush()
        if fraction >= 1.0:
            sys.stderr.write("\n")

    return show


def cmd_avatar_create(args: argparse.Namespace) -> int:
    from core.settings import AvatarSettings
    from core.store import MediaStore
    from models.avatars.avatar import AvatarSummary, save_avatar
    from models.avatars.media_read import UnusableMediaError
    from models.avatars.prep import prepare_file
    from processors.avatars import prep_settings

    store = MediaStore(Path(args.data_dir))
    avatar_id = args.id or uuid.uuid4().hex
    path = Path(args.file)
    settings = AvatarSettings.from_env(os.environ)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    if path.stat().st_size > settings.upload_max_bytes:
        print(f"error: {path} is over {settings.upload_max_bytes} bytes", file=sys.stderr)
        return 2
    try:
        directory = store.avatar_dir(avatar_id)
        avatar = prepare_file(path, avatar_id, args.name, prep_settings(settings),
                              _progress_bar(f"preparing {path.name}"))
        save_avatar(avatar, directory)
    except (UnusableMediaError, ValueError) as exc:
        report = getattr(exc, "report", None)
        if args.json:
            print(json.dumps({"avatar_id": avatar_id, "state": "failed", "error": str(exc),
                              "quality": None if report is None else report.to_json()}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    record = {**AvatarSummary.of(avatar).to_json(), "state": "ready"}
    if args.json:
        print(json.dumps(record))
    else:
        quality = avatar.quality
        reasons = "" if quality is None or not quality.reasons else ": " + "; ".join(quality.reasons)
        print(f"{avatar_id} ({'no report' if quality is None else quality.verdict}{reasons})")
    return 0


def cmd_bench_avatar(args: argparse.Namespace) -> int:
    """Times preparing a synthetic talking-head clip (encoding it is not timed)."""
    from models.avatars.avatar import save_avatar
    from models.avatars.prep import PrepSettings, prepare_file
    from models.avatars.sample import make_clip

    with tempfile.TemporaryDirectory(prefix="bench-avatar.") as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, seconds=args.seconds, width=args.width, height=args.height)
        settings = PrepSettings(max_duration_s=args.seconds, max_side=max(args.width, args.height))
        load_before = os.getloadavg()[0]  # other work on the machine slows this down; say how much there was
        start, cpu_start = time.perf_counter(), time.process_time()
        avatar = prepare_file(clip, "bench", "Bench", settings)
        prepared_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        save_avatar(avatar, Path(tmp) / "avatars" / "bench")
        saved_s = time.perf_counter() - start
    assert avatar.quality is not None
    print(json.dumps({"video_s": args.seconds, "width": args.width, "height": args.height,
                      "frames": int(avatar.frames.shape[0]), "prepare_s": round(prepared_s, 3),
                      "prepare_and_save_s": round(saved_s, 3), "prepare_cpu_s": round(cpu_s, 3),
                      "cpus": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
                      "verdict": avatar.quality.verdict, "one_face_share": avatar.quality.one_face_share}))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("avatar", help="manage avatars in the local media store")
    avatar_sub = p.add_subparsers(dest="avatar_command", required=True)
    c = avatar_sub.add_parser("create", help="prepare an avatar from a video or photo, here, without Kafka")
    c.add_argument("file")
    c.add_argument("--name", required=True)
    c.add_argument("--id", default=None, help="avatar id (default: a new random one)")
    c.add_argument("--json", action="store_true", help="print the avatar record as one JSON line")
    c.set_defaults(fn=cmd_avatar_create)
    b = sub.add_parser("bench-avatar", help="time preparing a synthetic 10 s 720p talking-head video")
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--width", type=int, default=1280)
    b.add_argument("--height", type=int, default=720)
    b.set_defaults(fn=cmd_bench_avatar)
