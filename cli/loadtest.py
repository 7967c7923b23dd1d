"""`avatar-stream loadtest`: many WebSocket clients on one job, and several jobs at once.

Every client must receive the complete stream (init, segments 0..total-1 once each,
`end`) identical to the job's stored segments; the report is one JSON object. Per phase it
gives the time from the request to the first segment at the client (`ttfs_s`) and the worst
lateness of any segment against real-time playback that starts at the first segment behind
a 2 s buffer (`lateness_s`, p50 and max over the streams).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from cli.client import WatchResult, submit, watch
from core.store import MediaStore

log = logging.getLogger(__name__)
PLAYBACK_BUFFER_S = 2.0
LOAD_TEXT = ("Many people are watching this stream at the same time. "
             "Every one of them receives every segment, in order, exactly once. "
             "Nobody waits for anybody else.")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _check(results: list[WatchResult], store: MediaStore | None) -> int:
    """The number of incomplete streams: a gap, duplicate, or bytes different from the store."""
    bad = 0
    for result in results:
        seqs = [m.seq for m in result.media]
        total = int(result.messages[-1]["segments"])  # type: ignore[call-overload]
        ok = seqs == list(range(total)) and result.messages[-1]["type"] == "end"
        if ok and store is not None:
            init, segments = store.read_segments(result.job_id, total)
            ok = result.init == init and [m.data for m in result.media] == segments
        bad += not ok
    return bad


async def _settle(store: MediaStore | None, job_ids: list[str], timeout_s: float = 60) -> None:
    """The stream's end can precede the assembler's writes by a moment."""
    if store is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(store.final_path(j).exists() for j in job_ids):
        await asyncio.sleep(0.1)


def _summary(results: list[WatchResult], wall_s: float, bad: int) -> dict[str, Any]:
    ttfs, walls = [r.ttfs_s for r in results], [r.wall_s for r in results]
    late = [r.lateness_s(PLAYBACK_BUFFER_S) for r in results]
    video_s = sum(m.duration_s for m in results[0].media) if results else 0.0
    return {
        "streams": len(results),
        "complete_streams": len(results) - bad,
        "segments_per_stream": statistics.median(len(r.media) for r in results),
        "bytes_delivered": sum(len(r.init) + sum(len(m.data) for m in r.media) for r in results),
        "ttfs_s": {"p50": _pct(ttfs, 0.5), "p95": _pct(ttfs, 0.95), "max": _pct(ttfs, 1.0)},
        # behind a 2 s buffer from the first segment on; 0: that viewer never stalled
        "lateness_s": {"p50": _pct(late, 0.5), "max": _pct(late, 1.0)},
        "stalled_streams": sum(x > 0 for x in late),
        "stream_wall_s": {"p50": _pct(walls, 0.5), "max": _pct(walls, 1.0)},
        "video_s_first_stream": round(video_s, 3),
        "phase_wall_s": round(wall_s, 3),
    }


async def one_job_many_watchers(base_url: str, watchers: int, text: str, store: MediaStore | None,
                                api_key: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    job_id = await submit(base_url, text, api_key=api_key)
    watchers_done = asyncio.gather(*(watch(base_url, job_id, started, api_key=api_key) for _ in range(watchers)))
    results = list(await watchers_done)
    await _settle(store, [job_id])
    return {"job_id": job_id, **_summary(results, time.perf_counter() - started, _check(results, store))}


async def many_jobs(base_url: str, jobs: int, text: str, store: MediaStore | None,
                    api_key: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()

    async def run(i: int) -> WatchResult:
        t0 = time.perf_counter()
        job_id = await submit(base_url, f"Job {i}. {text}", api_key=api_key)
        return await watch(base_url, job_id, t0, api_key=api_key)

    results = list(await asyncio.gather(*(run(i) for i in range(jobs))))
    await _settle(store, [r.job_id for r in results])
    return {**_summary(results, time.perf_counter() - started, _check(results, store)),
            "waited_in_line": sum(r.waited_in_line()[0] is not None for r in results),
            "per_job": [{"job_id": r.job_id, "ttfs_s": round(r.ttfs_s, 3),
                         "lateness_s": round(r.lateness_s(PLAYBACK_BUFFER_S), 3),
                         # admission: its first place in line and the start it was told
                         "queue_position": r.waited_in_line()[0],
                         "estimated_start_s": r.waited_in_line()[1]} for r in results]}


async def run_load(base_url: str, watchers: int, jobs: int, text: str = LOAD_TEXT,
                   data_dir: Path | None = None, api_key: str | None = None) -> dict[str, Any]:
    store = MediaStore(data_dir) if data_dir is not None else None
    report: dict[str, Any] = {}
    if watchers:
        report["one_job_many_watchers"] = await one_job_many_watchers(base_url, watchers, text, store,
                                                                      api_key)
    if jobs:
        report["concurrent_jobs"] = await many_jobs(base_url, jobs, text, store, api_key)
    return report
