"""Admission: live jobs past the limit wait in line, first come first, and start as running
jobs end; batch jobs take spare slots only, and the stages serve their records last."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from faust.types import TP

from processors.admission import Admission, JobLoad
from processors.chunker import admit_waiting, chunker
from processors.schedule import DeadlineQueue
from processors.waiting_jobs import Waiting
from schemas.pipeline import Sentence
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent
from tests.processors.stage_fake import FakeContext, FakeRecord

NOW = 1_000.0


def _event(job_id: str, state: JobState, at: float = NOW, **fields: object) -> StatusEvent:
    return StatusEvent(job_id=job_id, state=state, stage="chunker", at=at, **fields)  # type: ignore[arg-type]


def _running(load: JobLoad, *job_ids: str, priority: str = "live") -> None:
    for job_id in job_ids:
        load.fold(_event(job_id, JobState.RUNNING, priority=priority, text_chars=160))


def test_live_jobs_past_the_limit_wait_and_go_first_come_first() -> None:
    load = JobLoad()
    admission = Admission(load, max_live=2)
    _running(load, "a", "b")
    assert not admission.may_start("c", "live", NOW)
    load.fold(_event("d", JobState.QUEUED, queue_position=2, created_at=NOW + 2))
    load.fold(_event("c", JobState.QUEUED, queue_position=1, created_at=NOW + 1))
    assert load.line("live") == ["c", "d"]  # by when they were submitted, not when told
    assert [admission.place(j, "live", NOW).position for j in ("c", "d", "e")] == [1, 2, 3]
    assert admission.place("c", "live", NOW).estimated_start_s == 10.0  # 160 chars at 16 a second
    load.fold(_event("a", JobState.COMPLETED))
    assert admission.may_start("c", "live", NOW) and not admission.may_start("d", "live", NOW)
    assert not admission.may_start("e", "live", NOW)  # a newcomer does not jump the line
    assert admission.may_start("b", "live", NOW)  # a job that runs goes on (its request again)


def test_batch_jobs_take_only_spare_slots() -> None:
    load = JobLoad()
    admission = Admission(load, max_live=3)
    _running(load, "live-1")
    _running(load, "batch-1", priority="batch")
    assert admission.may_start("batch-2", "batch", NOW)  # 1 live + 1 batch of 3
    _running(load, "batch-2", priority="batch")
    assert not admission.may_start("batch-3", "batch", NOW)
    assert admission.may_start("live-2", "live", NOW)  # batch jobs hold no live slot
    _running(load, "live-2", "live-3")
    load.fold(_event("live-4", JobState.QUEUED, queue_position=1, created_at=NOW))
    load.fold(_event("batch-1", JobState.COMPLETED))
    load.fold(_event("batch-2", JobState.COMPLETED))
    assert not admission.may_start("batch-3", "batch", NOW)  # a live job waits: no batch starts
    assert admission.place("batch-3", "batch", NOW).position == 2  # behind every waiting live job


def test_a_late_report_after_the_end_takes_no_slot() -> None:
    # seen: a chunk done again after a restart reported `running` once its job had completed
    load = JobLoad()
    _running(load, "done")
    load.fold(_event("done", JobState.COMPLETED))
    load.fold(_event("done", JobState.RUNNING, at=NOW + 1))
    assert load.running_count("live", NOW + 1) == 0


def test_a_job_silent_for_long_holds_no_slot() -> None:
    load = JobLoad()
    _running(load, "stuck")
    admission = Admission(load, max_live=1)
    assert not admission.may_start("next", "live", NOW + 10)
    assert admission.may_start("next", "live", NOW + 121)


def _context(tmp_path: Path, max_live: int) -> tuple[FakeContext, Admission, Waiting, dict[bytes, bytes]]:
    ctx = FakeContext(tmp_path)
    path = ctx.store.avatar_dir("astro") / "avatar.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    ctx.app.consumer = SimpleNamespace(assignment=lambda: {TP(ctx.settings.kafka.topics.requests, 0)})
    admission = Admission(ctx.control.load, max_live=max_live)
    table: dict[bytes, bytes] = {}
    return ctx, admission, Waiting(ctx, admission, "chunker", table), table  # type: ignore[arg-type]


def _request(job_id: str, at: float, priority: str = "live") -> FakeRecord:
    body = ScriptRequest(job_id=job_id, text="Hello there. And a second one.", avatar_id="astro",
                         submitted_at=at, priority=priority)  # type: ignore[arg-type]
    return FakeRecord(key=job_id.encode(), value=body.to_json())


def _started(ctx: FakeContext) -> list[str]:
    return sorted({Sentence.from_json(v).job.job_id for _k, v in ctx.topics.sentences.sent})


async def test_the_chunker_holds_what_has_no_slot_and_starts_it_when_one_frees(tmp_path: Path) -> None:
    ctx, admission, waiting, table = _context(tmp_path, max_live=1)
    ctx.feed = [_request("one", NOW), _request("two", NOW + 1), _request("three", NOW + 2)]
    await chunker(ctx, {}, admission, waiting, None)  # type: ignore[arg-type]
    assert _started(ctx) == ["one"]
    assert set(table) == {b"two", b"three"}
    queued = {e.job_id: e for e in ctx.reports if e.state is JobState.QUEUED}
    assert (queued["two"].queue_position, queued["three"].queue_position) == (1, 2)
    assert queued["two"].estimated_start_s is not None and "number 1 in line" in (queued["two"].message or "")

    ctx.feed = [_request("two", NOW + 1)]  # redelivered while it waits: still held, once
    await chunker(ctx, {}, admission, waiting, None)  # type: ignore[arg-type]
    assert _started(ctx) == ["one"] and set(table) == {b"two", b"three"}

    await admit_waiting(ctx, admission, waiting)  # nothing ended: nothing starts
    assert _started(ctx) == ["one"]
    ctx.control.load.fold(_event("one", JobState.COMPLETED))
    await admit_waiting(ctx, admission, waiting)
    assert _started(ctx) == ["one", "two"] and set(table) == {b"three"}
    running = [e for e in ctx.reports if e.job_id == "two" and e.state is JobState.RUNNING]
    assert running and running[0].priority == "live"


async def test_a_job_cancelled_while_it_waits_leaves_the_line(tmp_path: Path) -> None:
    ctx, admission, waiting, table = _context(tmp_path, max_live=1)
    ctx.feed = [_request("one", NOW), _request("two", NOW + 1)]
    await chunker(ctx, {}, admission, waiting, None)  # type: ignore[arg-type]
    ctx.control.events["two"] = _event("two", JobState.CANCELLED)
    ctx.control.load.fold(_event("one", JobState.COMPLETED))
    await admit_waiting(ctx, admission, waiting)
    assert table == {} and _started(ctx) == ["one"]


def test_the_stages_serve_batch_records_only_when_no_live_one_is_due() -> None:
    now = [0.0]
    queue: DeadlineQueue[tuple[str, float]] = DeadlineQueue(lambda e: e[1], clock=lambda: now[0],
                                                            is_batch=lambda e: e[0] == "batch")
    queue.put("batch-job", ("batch", 0.0))
    queue.put("live-job", ("live", 0.0))
    queue.put("live-job", ("live", 30.0))  # half a minute into its video: beyond the lead
    assert queue.take(lead_s=10.0) == ("live-job", ("live", 0.0))  # both due now: live first
    assert queue.take(lead_s=10.0) == ("batch-job", ("batch", 0.0))  # the live one is ahead
    assert queue.take(lead_s=10.0) is None  # only the live one, due in 30 s, is left
