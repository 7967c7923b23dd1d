"""`avatar-stream demo`: the whole service on this machine, used as a client would."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path

import orjson

from cli.client import download, generate_and_watch
from cli.stack import Stack
from models.media.assemble import probe

log = logging.getLogger(__name__)

DEMO_TEXT = (
    "Hello, and welcome to avatar stream. "
    "I am a talking avatar, made on your own machine from a single photo and a line of text. "
    "My voice is synthesized locally, my lips follow every word, "
    "and you are watching me while I am still being made."
)


async def _run(base_url: str, text: str, out: Path) -> dict[str, object]:
    result = await generate_and_watch(base_url, text)
    # The end of the stream can precede the assembler by a moment; wait for the file.
    for _ in range(300):
        try:
            await download(base_url, result.job_id, out)
            break
        except Exception:  # noqa: BLE001 - not there yet, whatever the reason: retry
            await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"the final video for {result.job_id} never became downloadable")
    info = probe(out)
    return {
        "job_id": result.job_id,
        "ttfs_s": round(result.ttfs_s, 3),
        "segments": len(result.media),
        "video_duration_s": round(info.video_duration_s, 3),
        "audio_duration_s": round(info.audio_duration_s, 3),
        "av_gap_ms": round(abs(info.video_duration_s - info.audio_duration_s) * 1000, 1),
        "stream_wall_s": round(result.wall_s, 3),
        "width": info.width,
        "height": info.height,
        "out": str(out),
    }


def demo_once(data_dir: Path, text: str | None, out: Path, port: int | None) -> dict[str, object]:
    started = time.perf_counter()
    with Stack(data_dir, port=port) as stack:
        log.info("stack ready at %s in %.1fs", stack.url, time.perf_counter() - started)
        report = asyncio.run(_run(stack.url, text or DEMO_TEXT, out))
    report["wall_s"] = round(time.perf_counter() - started, 3)
    return report


def bench_demo(data_dir: Path, runs: int, out: Path) -> int:
    """Full demos back to back; the first warms caches, the median of the rest is reported."""
    reports = []
    for i in range(runs):
        report = demo_once(data_dir, None, out, None)
        print(orjson.dumps({"run": i, **report}).decode(), flush=True)
        reports.append(report)
    warm = sorted(float(r["ttfs_s"]) for r in reports[1:]) or [float(reports[0]["ttfs_s"])]  # type: ignore[arg-type]
    summary = {"runs": runs, "ttfs_s_median_after_first": round(statistics.median(warm), 3),
               "ttfs_s_max_after_first": warm[-1]}
    print(orjson.dumps(summary).decode(), flush=True)
    return 0


def run_demo(data_dir: Path, text: str | None, out: Path, as_json: bool, port: int | None) -> int:
    report = demo_once(data_dir, text, out, port)
    if as_json:
        print(orjson.dumps(report).decode(), flush=True)
    else:
        for key, value in report.items():
            print(f"{key:>18}: {value}")
    return 0
