"""`avatar-stream faults`: jobs run through worker and broker faults, checked against a
run without any.

A bench of its own (an embedded broker, a gateway, two worker processes, fresh topics,
deterministic speech) runs one script without faults, then once per scenario with a fault
injected while a WebSocket client watches: a worker killed (SIGKILL) or stopped (SIGTERM),
workers joining and leaving, the broker restarted. Each faulted job is judged as a viewer
and a player would: every media segment exactly once and in order, byte for byte the
segments of the run without faults (each segment depends only on its record), the same
frames in the final MP4, equal video and audio durations, and decoded audio that follows
the source speech (read back from the audio topic) across every segment boundary.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import os
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import orjson
import websockets
from aiokafka import AIOKafkaConsumer

from cli.client import submit
from cli.stack import Stack
from core.settings import KafkaSettings
from models.media.assemble import probe
from schemas.pipeline import AudioChunkMeta
from schemas.status import JobState
from schemas.ws import KIND_INIT, MediaMessage

log = logging.getLogger(__name__)

FPS = 25
SAMPLE_RATE_HZ = 16000
BASE_WORKERS = ("worker", "w2")

# About 80 s of video (some 10 s of work on 2 cores): long enough that a fault injected
# after the first segments lands while the job is running.
_PARAGRAPH = (
    "This is a test of a service that must survive its own workers. "
    "A worker may join the group while a job is running, and take a share of the partitions. "
    "A worker may be stopped for a deploy, or killed without warning, in the middle of a sentence. "
    "Whatever happens, the viewer must see every segment exactly once, in order, with no gap. "
    "The final file must hold the same frames as a run in which nothing went wrong at all. "
    "The audio must flow across every boundary without a click, a jump or a silence. "
    "That is what the service promises, and this paragraph is here to check the promise."
)
FAULT_TEXT = f"{_PARAGRAPH} Once more, from the top. {_PARAGRAPH}"


@dataclass
class Arrival:
    seq: int
    start_s: float  # on the job's timeline
    data: bytes
    at: float  # time.monotonic() when it reached the client


@dataclass
class Watched:
    """One job's stream as its client saw it."""

    job_id: str
    init: bytes = b""
    media: list[Arrival] = field(default_factory=list)
    end: dict[str, Any] | None = None

    def longest_wait_after(self, at: float) -> float | None:
        """The longest the client waited for its next segment from `at` on (from `at` to the
        first segment after it, and between any two after it); None when none came after."""
        later = [a.at for a in self.media if a.at >= at]
        if not later:
            return None
        return max(b - a for a, b in zip([at, *later], later, strict=False))

    def first_after(self, at: float) -> float | None:
        """From `at` to the first segment after it (the take-over; later stalls not counted)."""
        later = [a.at for a in self.media if a.at >= at]
        return min(later) - at if later else None


@dataclass
class Outcome:
    """One faulted job, judged against the run without faults."""

    scenario: str
    run: int
    completed: bool = False
    state: str | None = None
    segments: int = 0
    expected_segments: int = 0
    exactly_once_in_order: bool = False
    identical_to_reference: bool = False
    frames: int = 0
    expected_frames: int = 0
    av_gap_s: float | None = None
    audio_snr_db: float | None = None
    worst_boundary_snr_db: float | None = None
    resume_s: float | None = None  # the longest the client waited for a segment after the fault
    first_s: float | None = None  # from the fault to the first segment after it
    done_s: float | None = None  # from the fault to the job's final status
    resume_from: str = ""
    at_fault: str = ""  # what the job was doing when the fault came (its status)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (self.completed and self.exactly_once_in_order and self.identical_to_reference
                and self.frames == self.expected_frames and self.av_gap_s is not None
                and self.av_gap_s <= 1 / FPS and self.error is None
                and self.audio_snr_db is not None and self.audio_snr_db >= MIN_SNR_DB
                and self.worst_boundary_snr_db is not None
                and self.worst_boundary_snr_db >= MIN_BOUNDARY_SNR_DB)


# Speech through AAC comes back at some 20-30 dB; a lost or repeated block of samples puts
# everything after it out of step (near 0 dB), and a click at a boundary drags that
# window down to a few dB.
MIN_SNR_DB = 12.0
MIN_BOUNDARY_SNR_DB = 6.0


@dataclass
class Reference:
    watched: Watched
    frames: int


# ---- the stream, as a client sees it ----------------------------------------------------

async def watch_timed(base_url: str, job_id: str, timeout_s: float,
                      on_media: Callable[[Watched], None] | None = None) -> Watched:
    """The whole stream of one job, each segment with its arrival time; `on_media` is called
    after each media segment (to start a fault at the right moment)."""
    ws_url = base_url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}"
    out = Watched(job_id)
    deadline = time.monotonic() + timeout_s
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30) as ws:
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            if isinstance(message, bytes):
                media = MediaMessage.unpack(message)
                if media.kind == KIND_INIT:
                    out.init = media.data
                    continue
                out.media.append(Arrival(media.seq, media.start_s, media.data, time.monotonic()))
                if on_media is not None:
                    on_media(out)
                continue
            control = orjson.loads(message)
            if control["type"] in ("end", "error"):
                out.end = control
                return out
    raise TimeoutError(f"job {job_id}: the stream did not end within {timeout_s:.0f} s")


# ---- judging a job ----------------------------------------------------------------------

async def source_speech(bootstrap: str, topic: str, job_id: str) -> np.ndarray:
    """The job's speech as the tts stage produced it: its audio records, each seq once, own
    samples only (the context on either side belongs to the neighbours)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest",
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    own: dict[int, np.ndarray] = {}
    last: int | None = None
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment():  # without a group it takes every partition, once it knows them
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions of {topic} within 30 s")
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])
        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    if record.key != job_id.encode():
                        continue
                    meta = AudioChunkMeta.from_headers(record.headers)
                    pcm = np.frombuffer(record.value, dtype="<i2")
                    own[meta.seq] = pcm[meta.context_before_samples:len(pcm) - meta.context_after_samples]
                    if meta.is_last:
                        last = meta.seq
    finally:
        await consumer.stop()
    if last is None or sorted(own) != list(range(last + 1)):
        raise RuntimeError(f"job {job_id}: the audio topic does not hold all its chunks")
    return np.concatenate([own[seq] for seq in range(last + 1)]).astype(np.float64)


def _decoded_pcm(stream: bytes) -> np.ndarray:
    with av.open(io.BytesIO(stream), format="mp4") as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(frames).astype(np.float64) * 32768.0


def _snr_db(signal_: np.ndarray, error: np.ndarray) -> float:
    noise = float(np.sum(error ** 2))
    power = float(np.sum(signal_ ** 2))
    return math.inf if noise == 0 else 10 * math.log10(max(power, 1e-9) / noise)


def audio_against_source(watched: Watched, source: np.ndarray, boundaries_s: list[float]) -> tuple[float, float]:
    """(SNR over the whole job, worst SNR in a 64 ms window around a segment boundary) of
    the audio the client can decode against the source speech. Windows quieter than a
    hundredth of the job's level are left out (silence has no SNR to speak of)."""
    pcm = _decoded_pcm(watched.init + b"".join(a.data for a in watched.media))
    n = min(len(pcm), len(source))
    if n < len(source) - 1024:
        raise RuntimeError(f"decoded audio is {len(source) - n} samples short of the speech")
    error = pcm[:n] - source[:n]
    edge = 2048  # the codec's onset and its final flush
    whole = _snr_db(source[edge:n - edge], error[edge:n - edge])
    level = float(np.sqrt(np.mean(source[:n] ** 2)))
    worst = math.inf
    for at in boundaries_s:
        b = round(at * SAMPLE_RATE_HZ)
        lo, hi = max(edge, b - 512), min(n - edge, b + 512)
        if hi - lo < 256 or np.sqrt(np.mean(source[lo:hi] ** 2)) < 0.01 * level:
            continue
        worst = min(worst, _snr_db(source[lo:hi], error[lo:hi]))
    return whole, worst


# ---- the bench ----------------------------------------------------------------------------

def bench_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Topics and a consumer group of their own, deterministic speech, quick heartbeats,
    no pacing."""
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(AVATAR_TOPIC_PREFIX=f"faults-{tag}", AVATAR_APP_ID=f"faults-{tag}",
               AVATAR_TTS_DETERMINISTIC="1", AVATAR_HEARTBEAT_S="0.5", AVATAR_LOG_LEVEL="INFO",
               # jobs made as fast as the machine can (not paced to their viewers): a run
               # takes seconds, not the minute of its video
               AVATAR_LEAD_S="inf")
    return env


class FaultBench:
    """A stack with its own broker and the workers in BASE_WORKERS; each scenario may kill,
    stop or add workers, and `settle()` brings the group back to the base workers."""

    def __init__(self, data_dir: Path, job_timeout_s: float = 300.0) -> None:
        self.stack = Stack(data_dir, env=bench_env())
        self.job_timeout_s = job_timeout_s
        self._spawned = 0
        self._exiting: list[subprocess.Popen[bytes]] = []  # signalled, not yet reaped

    # workers ---------------------------------------------------------------
    def start(self) -> None:
        self.stack.start()
        for name in BASE_WORKERS[1:]:
            self.stack.spawn_worker(name)

    def stop(self) -> None:
        self.stack.stop()

    def workers(self) -> list[str]:
        return [n for n, p in self.stack.procs.items() if n != "gateway" and p.poll() is None]

    def _ready(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.stack.ready_file_of(name).read_text()))
        except (OSError, ValueError):
            return None

    def new_worker(self) -> str:
        self._spawned += 1
        name = f"extra{self._spawned}"
        self.stack.spawn_worker(name)
        return name

    async def until_ready(self, name: str, timeout_s: float = 120.0) -> float:
        """time.monotonic() once worker `name` has its partitions."""
        deadline = time.monotonic() + timeout_s
        while self._ready(name) is None:
            proc = self.stack.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {name} not ready within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
        return time.monotonic()

    def signal(self, name: str, sig: signal.Signals) -> None:
        proc = self.stack.procs.pop(name)
        self.stack.ready_file_of(name).unlink(missing_ok=True)
        proc.send_signal(sig)
        self._exiting.append(proc)

    def crashed(self) -> list[str]:
        """Workers that exited without being signalled (a crash is a failed run), removed."""
        out = []
        for name, proc in list(self.stack.procs.items()):
            if name != "gateway" and proc.poll() is not None:
                out.append(f"{name} exited by itself with {proc.returncode}")
                del self.stack.procs[name]
        return out

    async def settle(self, timeout_s: float = 180.0) -> None:
        """Back to the BASE_WORKERS, live, sharing every partition between them."""
        for proc in self._exiting:
            await asyncio.to_thread(proc.wait, 60)
        self._exiting.clear()
        self.crashed()
        for name in self.workers():
            if name not in BASE_WORKERS:
                self.signal(name, signal.SIGTERM)
        for name in BASE_WORKERS:
            if name not in self.stack.procs:
                self.stack.spawn_worker(name)
        for proc in self._exiting:
            await asyncio.to_thread(proc.wait, 60)
        self._exiting.clear()
        deadline = time.monotonic() + timeout_s
        frames = self.stack.topics.frames
        while True:
            readies = [self._ready(n) for n in self.workers()]
            owned = [p for r in readies if r is not None for p in r["partitions"].get(frames, [])]
            if all(readies) and len(owned) == len(set(owned)) and len(owned) == self.partitions:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker group did not settle within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)

    @property
    def partitions(self) -> int:
        return KafkaSettings.from_env(self.stack.env).partitions

    async def holder(self, job_id: str, prefer_stage: str | None = None) -> tuple[str, list[str]]:
        """The worker with the job in hand in the most stages (`prefer_stage` first), as its
        heartbeats tell the gateway, and those stages; the first worker when none has it."""
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=10) as http:
            health = (await http.get("/health")).json()
        by_pid = {r["pid"]: n for n in self.workers() if (r := self._ready(n)) is not None}
        best: tuple[str, list[str]] = (self.workers()[0], [])
        score = -1
        for worker in health["workers"]:
            name = by_pid.get(worker["pid"])
            stages = sorted(s for s, jobs in worker["jobs"].items() if job_id in jobs)
            mine = len(stages) + (10 if prefer_stage in stages else 0)
            if name is not None and mine > score:
                best, score = (name, stages), mine
        return best

    async def status_line(self, job_id: str) -> str:
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=10) as http:
            status = (await http.get(f"/api/v1/status/{job_id}")).json()
        return f"{status.get('state')} in {status.get('stage')} ({status.get('message')})"

    # jobs ------------------------------------------------------------------
    async def run_job(self, on_media: Callable[[Watched], None] | None = None) -> Watched:
        job_id = await submit(self.stack.url, FAULT_TEXT)
        return await watch_timed(self.stack.url, job_id, self.job_timeout_s, on_media)

    async def until_final(self, job_id: str, timeout_s: float = 120.0) -> tuple[str, float]:
        """Polls the job's status until it is final; the state and when it was first seen.
        The stream's `end` comes once every segment is out, before the MP4 is assembled and
        the job reported completed (after a kill, by the next owner of the assembler)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=10) as http:
            while True:
                state = (await http.get(f"/api/v1/status/{job_id}")).json().get("state")
                if state is not None and JobState(state).final:
                    return state, time.monotonic()
                if time.monotonic() > deadline:
                    return state, math.nan
                await asyncio.sleep(0.05)

    async def final_mp4(self, job_id: str, out: Path, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=60) as http:
            while True:
                response = await http.get(f"/api/v1/video/{job_id}")
                if response.status_code == 200:
                    out.write_bytes(response.content)
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id}: no final MP4 within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)

    async def delete(self, job_id: str) -> None:
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=30) as http:
            await http.delete(f"/api/v1/jobs/{job_id}")

    async def reference(self, out_dir: Path) -> Reference:
        watched = await self.run_job()
        if watched.end is None or watched.end.get("state", "completed") == "failed":
            raise RuntimeError(f"the run without faults did not complete: {watched.end}")
        mp4 = out_dir / "reference.mp4"
        await self.final_mp4(watched.job_id, mp4)
        return Reference(watched, probe(mp4).video_frames)

    async def judge(self, outcome: Outcome, watched: Watched, reference: Reference, out_dir: Path) -> None:
        """`outcome.state` is the job's final state (`until_final`), set before."""
        ref = reference.watched
        outcome.segments = len(watched.media)
        outcome.expected_segments = len(ref.media)
        outcome.expected_frames = reference.frames
        seqs = [a.seq for a in watched.media]
        outcome.exactly_once_in_order = seqs == list(range(len(ref.media)))
        outcome.identical_to_reference = (
            outcome.exactly_once_in_order and watched.init == ref.init
            and all(m.data == r.data for m, r in zip(watched.media, ref.media, strict=True)))
        mp4 = out_dir / f"{outcome.scenario}-{outcome.run}.mp4"
        await self.final_mp4(watched.job_id, mp4)
        info = probe(mp4)
        outcome.completed = (watched.end is not None and watched.end["type"] == "end"
                             and outcome.state == "completed")
        outcome.frames = info.video_frames
        outcome.av_gap_s = round(abs(info.video_duration_s - info.audio_duration_s), 4)
        source = await source_speech(self.stack.bootstrap or "", self.stack.topics.audio, watched.job_id)
        boundaries = [a.start_s for a in watched.media[1:]]
        whole, worst = audio_against_source(watched, source, boundaries)
        outcome.audio_snr_db, outcome.worst_boundary_snr_db = round(whole, 1), round(worst, 1)


# ---- scenarios ----------------------------------------------------------------------------

Fault = Callable[[FaultBench, Watched, Reference], Awaitable[tuple[float, str]]]


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str
    at: Callable[[Watched, Reference], bool]  # when the fault starts (checked per segment)
    fault: Fault  # returns (time.monotonic() that resumption counts from, what that was)
    segments_after: bool = True  # False: the fault comes once the client has every segment


def _after(fraction: float) -> Callable[[Watched, Reference], bool]:
    return lambda w, r: len(w.media) >= max(1, int(len(r.watched.media) * fraction))


def _after_segments(n: int) -> Callable[[Watched, Reference], bool]:
    return lambda w, r: len(w.media) >= n


def _last_segment(w: Watched, r: Reference) -> bool:
    return len(w.media) >= len(r.watched.media)


async def _stop_holder(bench: FaultBench, w: Watched, stage: str, sig: signal.Signals) -> tuple[float, str]:
    victim, stages = await bench.holder(w.job_id, stage)
    bench.signal(victim, sig)
    what = "kill" if sig == signal.SIGKILL else "sigterm"
    return time.monotonic(), f"{what} of {victim} (the job in hand in {', '.join(stages) or 'no stage'})"


async def _kill(bench: FaultBench, w: Watched, stage: str) -> tuple[float, str]:
    return await _stop_holder(bench, w, stage, signal.SIGKILL)


async def _kill_in_speech(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    return await _kill(b, w, "tts")


async def _kill_in_video(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    return await _kill(b, w, "lipsync")


async def _kill_after_last(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    return await _kill(b, w, "assembler")


async def _sigterm(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    return await _stop_holder(b, w, "lipsync", signal.SIGTERM)


async def _join(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    return await b.until_ready(b.new_worker()), "ready"


async def _join_leave_twice(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    """Two workers join; as soon as both are in, both leave again, one after the other."""
    first, second = b.new_worker(), b.new_worker()
    await b.until_ready(first)
    await b.until_ready(second)
    b.signal(first, signal.SIGTERM)
    b.signal(second, signal.SIGTERM)
    return time.monotonic(), "sigterm"


async def _broker_restart(b: FaultBench, w: Watched, r: Reference) -> tuple[float, str]:
    broker = b.stack.broker
    assert broker is not None
    await asyncio.to_thread(broker.stop)
    await asyncio.to_thread(broker.start)
    return time.monotonic(), "broker ready"


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("kill-during-speech", "SIGKILL of the worker holding the job while it is still "
             "being spoken (after 3 segments)", _after_segments(3), _kill_in_speech),
    Scenario("kill-mid-video", "SIGKILL of the worker holding the job halfway through its video",
             _after(0.5), _kill_in_video),
    Scenario("kill-after-last-chunk", "SIGKILL of the worker holding the job once the client "
             "has its last segment (the final MP4 may still be in the making)",
             _last_segment, _kill_after_last, segments_after=False),
    Scenario("sigterm-mid-job", "SIGTERM (a rolling deploy) of the worker holding the job, "
             "a third of the way through", _after(1 / 3), _sigterm),
    Scenario("join-mid-job", "a third worker joins after 3 segments", _after_segments(3), _join),
    Scenario("join-leave-twice", "two workers join after 3 segments and both leave again at once",
             _after_segments(3), _join_leave_twice),
    Scenario("broker-restart", "the broker stopped and started again a third of the way through",
             _after(1 / 3), _broker_restart),
]}


async def run_scenario(bench: FaultBench, scenario: Scenario, run: int, reference: Reference,
                       out_dir: Path) -> Outcome:
    outcome = Outcome(scenario.name, run)
    fault: asyncio.Task[tuple[float, str]] | None = None

    def on_media(w: Watched) -> None:
        nonlocal fault
        if fault is None and scenario.at(w, reference):
            fault = asyncio.ensure_future(scenario.fault(bench, w, reference))

    watched = Watched("")
    try:
        job_id = await submit(bench.stack.url, FAULT_TEXT)
        watched.job_id = job_id

        async def note_fault() -> None:
            while fault is None:
                await asyncio.sleep(0.01)
            try:
                outcome.at_fault = await bench.status_line(job_id)
            except httpx.HTTPError as exc:
                outcome.at_fault = f"status unavailable ({type(exc).__name__})"
        noting = asyncio.ensure_future(note_fault())
        watched = await watch_timed(bench.stack.url, job_id, bench.job_timeout_s, on_media)
        if fault is None:
            raise RuntimeError("the job ended before the fault")
        at, what = await fault
        await noting
        outcome.resume_from = what
        waited = watched.longest_wait_after(at)
        outcome.resume_s = None if waited is None else round(waited, 2)
        first = watched.first_after(at)
        outcome.first_s = None if first is None else round(first, 2)
        # when each segment reached the client, from the fault on: for a look after the fact
        (out_dir / f"{scenario.name}-{run}.arrivals.json").write_text(json.dumps(
            [[a.seq, round(a.at - at, 3)] for a in watched.media]))
        outcome.state, done_at = await bench.until_final(job_id)
        outcome.done_s = None if math.isnan(done_at) else round(done_at - at, 2)
        await bench.judge(outcome, watched, reference, out_dir)
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        log.exception("scenario %s run %d", scenario.name, run)
    finally:
        if fault is not None and not fault.done():
            fault.cancel()
        if (crashed := bench.crashed()) and outcome.error is None:
            outcome.error = "; ".join(crashed)
        if watched.job_id:
            try:
                await bench.delete(watched.job_id)
            except httpx.HTTPError:
                pass
        try:
            await bench.settle()
        except Exception as exc:
            outcome.error = (outcome.error or "") + f" (then the group did not settle: {exc})"
            raise BenchBroken(outcome) from exc
    return outcome


class BenchBroken(RuntimeError):
    """The bench could not be brought back to its base workers: later runs would mean nothing."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by.setdefault(o.scenario, []).append(o)
    rows = {}
    for name, runs in by.items():
        resumes = [o.resume_s for o in runs if o.resume_s is not None]
        rows[name] = {"runs": len(runs), "ok": sum(o.ok for o in runs),
                      "resume_s_p50": round(statistics.median(resumes), 2) if resumes else None,
                      "resume_s_max": max(resumes) if resumes else None,
                      "done_s_max": max((o.done_s for o in runs if o.done_s is not None), default=None),
                      "resume_from": runs[0].resume_from.split(" of ")[0]}
    return {"ok": sum(o.ok for o in outcomes), "runs": len(outcomes), "scenarios": rows}


async def run_faults(data_dir: Path, runs: int, names: list[str],
                     progress: Callable[[Outcome], None] | None = None) -> dict[str, Any]:
    """Starts a bench in `data_dir`, runs each scenario `runs` times; the JSON table."""
    bench = FaultBench(data_dir)
    await asyncio.to_thread(bench.start)
    out_dir = data_dir / "mp4"
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    try:
        await bench.settle()
        reference = await bench.reference(out_dir)
        for run in range(1, runs + 1):
            for name in names:
                try:
                    outcome = await run_scenario(bench, SCENARIOS[name], run, reference, out_dir)
                except BenchBroken as broken:
                    outcomes.append(broken.outcome)
                    if progress is not None:
                        progress(broken.outcome)
                    raise
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
    except BenchBroken:
        log.error("the bench broke; the table ends here")
    finally:
        await asyncio.to_thread(bench.stop)
    return {**summarize(outcomes), "reference": {"segments": len(reference.watched.media),
                                                 "frames": reference.frames},
            "outcomes": [{**asdict(o), "ok": o.ok} for o in outcomes]}
