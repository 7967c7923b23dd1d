"""`avatar-stream render | bench-lipsync | lipsync-quality`: offline rendering and its checks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import orjson

from cli.errors import UsageError


def _avatar(data_dir: Path, avatar_id: str):  # type: ignore[no-untyped-def]
    from core.store import MediaStore
    from models.avatars.avatar import load_avatar
    from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar

    store = MediaStore(data_dir)
    if store.has_avatar(avatar_id):
        return load_avatar(store.avatar_dir(avatar_id))
    if avatar_id == SAMPLE_AVATAR_ID:
        return sample_avatar()
    raise SystemExit(f"no avatar {avatar_id!r} in {data_dir}")


def cmd_render(args: argparse.Namespace) -> int:
    from cli.render_offline import render_text
    from models.speech.tts_piper import PiperSpeaker
    from processors.settings import WorkerSettings
    from schemas.options import AUDIO_SAMPLE_RATE_HZ

    settings = WorkerSettings.from_env({**os.environ, "AVATAR_DATA_DIR": args.data_dir})
    speaker = PiperSpeaker(out_rate_hz=AUDIO_SAMPLE_RATE_HZ, deterministic=args.deterministic or settings.tts_deterministic)
    info, timings = render_text(args.text, _avatar(Path(args.data_dir), args.avatar), Path(args.out), settings,
                                lambda text: speaker.synthesize(text).samples)
    report = {"out": args.out, "frames": timings.frames, "width": info.width, "height": info.height,
              "video_duration_s": round(info.video_duration_s, 3), "audio_duration_s": round(info.audio_duration_s, 3),
              "speech_s": round(timings.speech_s, 3), "render_s": round(timings.render_s, 3),
              "encode_s": round(timings.encode_s, 3),
              "render_encode_fps": round(timings.frames / max(1e-9, timings.render_s + timings.encode_s), 1)}
    print(orjson.dumps(report).decode(), flush=True)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from cli.bench_lipsync import bench

    print(orjson.dumps(bench(_avatar(Path(args.data_dir), args.avatar), repeats=args.repeats)).decode(), flush=True)
    return 0


def cmd_bench_gpu(args: argparse.Namespace) -> int:
    from cli.bench_gpu import BENCH_TEXT, bench_gpu

    report = bench_gpu(Path(args.data_dir) / "bench-gpu", Path(args.checkpoint) if args.checkpoint else None,
                       args.precision, _sizes(args.batches, "--batches"), _sizes(args.streams, "--streams"),
                       args.text or BENCH_TEXT)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode(), flush=True)
    return 0


def _sizes(raw: str, flag: str) -> list[int]:
    try:
        sizes = sorted({int(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise UsageError(f"{flag} takes whole numbers separated by commas, not {raw!r}") from None
    if not sizes or sizes[0] < 1:
        raise UsageError(f"{flag} needs numbers of 1 or more")
    return sizes


def cmd_quality(args: argparse.Namespace) -> int:
    from models.media.quality_av import measure

    print(orjson.dumps(measure(Path(args.file)).to_dict()).decode(), flush=True)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a script to an MP4 in this process (no Kafka)")
    p.add_argument("--text", required=True)
    p.add_argument("--avatar", default="astronaut")
    p.add_argument("--out", required=True)
    p.add_argument("--deterministic", action="store_true", help="noise-free TTS: equal text, equal audio")
    p.set_defaults(fn=cmd_render)
    p = sub.add_parser("bench-lipsync", help="lip-sync frames per second on this machine (JSON)")
    p.add_argument("--avatar", default="astronaut")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("bench-gpu", help="Wav2Lip frames/s per batch size, then real-time streams through "
                                         "the pipeline until one stalls (JSON; CUDA when present)")
    p.add_argument("--checkpoint", default=None, help="an official Wav2Lip checkpoint (default: random weights)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--batches", default="1,4,8,16,32", help="batch sizes for the network alone")
    p.add_argument("--streams", default="1,2,4,8,16", help="concurrent streams to try, until one stalls")
    p.add_argument("--text", default=None, help="each stream's script")
    p.set_defaults(fn=cmd_bench_gpu)
    p = sub.add_parser("lipsync-quality", help="mouth/audio correlation and A/V offset of an MP4 (JSON)")
    p.add_argument("file")
    p.set_defaults(fn=cmd_quality)
