"""JobControl's memory of the status topic: the stopped jobs and each job's latest event,
a final one kept over later progress (the read from Kafka itself runs in the e2e tests)."""

from __future__ import annotations

from types import SimpleNamespace

from processors.context import StageContext
from processors.job_control import JobControl, keeps
from schemas.status import JobState, StatusEvent
from tests.processors.stage_fake import FakeTopic


def event(job_id: str, state: JobState, stage: str = "tts", **fields: object) -> StatusEvent:
    return StatusEvent(job_id=job_id, state=state, stage=stage, at=1.0, **fields)


def test_a_final_state_is_kept_over_later_progress() -> None:
    assert not keeps(None, JobState.RUNNING)
    assert not keeps(JobState.QUEUED, JobState.RUNNING)
    assert not keeps(JobState.RUNNING, JobState.COMPLETED)
    assert keeps(JobState.COMPLETED, JobState.RUNNING)
    assert keeps(JobState.FAILED, JobState.QUEUED)
    assert not keeps(JobState.COMPLETED, JobState.CANCELLED)  # a delete after completion


def test_the_latest_event_per_job() -> None:
    control = JobControl("unused:9092", "avatar.status", remember=2)
    stopped: list[str] = []
    control.on_stop(stopped.append)
    for e in (event("a", JobState.RUNNING, progress=0.5),
              event("a", JobState.COMPLETED, "assembler", segments=3),
              event("a", JobState.RUNNING, progress=0.9),  # late: the completion stays
              event("b", JobState.FAILED, error="boom")):
        control._remember_event(e, e.to_json())
        control.mark(e.job_id, e.state)
    assert control.latest("a") == event("a", JobState.COMPLETED, "assembler", segments=3)
    assert control.latest("b") == event("b", JobState.FAILED, error="boom")
    assert control.latest("c") is None
    assert control.is_stopped("b") and not control.is_stopped("a") and stopped == ["b"]
    c = event("c", JobState.QUEUED, "gateway")
    control._remember_event(c, c.to_json())  # beyond `remember`: the oldest is forgotten
    assert control.latest("a") is None and control.latest("c") == c


async def test_a_stage_reports_nothing_more_once_its_job_ended() -> None:
    # seen: a record done again after a redelivery reported `running` 0.26 s after the job
    # completed, and the compacted topic kept that as the job's last word
    control = JobControl("127.0.0.1:9", "avatar.status")  # not started: only what this process sends
    topic = FakeTopic()
    ctx = StageContext(app=None, topics=SimpleNamespace(status=topic), settings=None,  # type: ignore[arg-type]
                       store=None, avatars=None, executor=None, control=control)  # type: ignore[arg-type]
    await ctx.report("j", "encoder", JobState.RUNNING, message="all segments encoded")
    await ctx.report("j", "assembler", JobState.COMPLETED, message="final MP4 ready")
    await ctx.report("j", "encoder", JobState.RUNNING, message="all segments encoded")
    sent = [StatusEvent.from_json(value) for _key, value in topic.sent]
    assert [(e.stage, e.state) for e in sent] == [("encoder", JobState.RUNNING),
                                                   ("assembler", JobState.COMPLETED)]
    assert control.latest("j") == sent[-1]
