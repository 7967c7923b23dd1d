"""The job board: folding, paging, deletion and de-duplication of segments and captions."""

from __future__ import annotations

from schemas.pipeline import CaptionChunk, SegmentMeta, WordTiming
from schemas.status import JobState, StatusEvent
from streamer.jobs import DELETE_STAGE, JobBoard


def _event(job_id: str, state: JobState, stage: str = "gateway", at: float = 1.0, **fields: object) -> StatusEvent:
    return StatusEvent(job_id=job_id, state=state, stage=stage, at=at, **fields)  # type: ignore[arg-type]


def test_page_filters_and_orders_newest_first() -> None:
    board = JobBoard()
    for i in range(5):
        board.apply_status(_event(f"j{i}", JobState.QUEUED, created_at=float(i)))
    board.apply_status(_event("j1", JobState.COMPLETED, stage="assembler", at=9.0, segments=3))
    page, total = board.page(None, 0, 2)
    assert total == 5 and [s.job_id for s in page] == ["j4", "j3"]
    page, total = board.page(None, 4, 2)
    assert [s.job_id for s in page] == ["j0"]
    page, total = board.page({JobState.COMPLETED}, 0, 10)
    assert total == 1 and page[0].job_id == "j1" and page[0].progress == 1.0


def test_final_state_is_not_replaced_by_a_late_running_report() -> None:
    board = JobBoard()
    board.apply_status(_event("j", JobState.CANCELLED))
    board.apply_status(_event("j", JobState.RUNNING, stage="tts", at=2.0))
    view = board.get("j")
    assert view is not None and view.status.state is JobState.CANCELLED


def test_deleted_jobs_vanish_and_take_no_more_segments() -> None:
    board = JobBoard()
    board.apply_status(_event("j", JobState.RUNNING))
    board.apply_segment(SegmentMeta(job_id="j", kind="media", seq=0), b"x")
    board.apply_status(_event("j", JobState.CANCELLED, stage=DELETE_STAGE))
    assert board.get("j") is None and board.all() == [] and board.page(None, 0, 10) == ([], 0)
    board.apply_segment(SegmentMeta(job_id="j", kind="media", seq=1), b"y")
    assert board.get("j") is None


def test_duplicates_dropped_and_memory_bounded() -> None:
    board = JobBoard(jobs_in_memory=1)
    board.apply_segment(SegmentMeta(job_id="a", kind="media", seq=0), b"first")
    board.apply_segment(SegmentMeta(job_id="a", kind="media", seq=0), b"again")
    words = [WordTiming(text="hi", start_s=0.0, end_s=0.3)]
    board.apply_captions(CaptionChunk(job_id="a", seq=0, words=words))
    board.apply_captions(CaptionChunk(job_id="a", seq=0, words=[]))
    view = board.get("a")
    assert view is not None and view.media[0][1] == b"first" and view.captions[0].words == words
    board.apply_segment(SegmentMeta(job_id="b", kind="init", seq=0, mime="video/mp4"), b"init")
    assert view.media == {} and view.captions == {}  # evicted; the store serves it from now on


def test_a_compacted_topic_with_only_the_final_event_still_lists_the_job() -> None:
    """Compaction keeps one event per job: the assembler's carries what the listing sorts by."""
    board = JobBoard()
    board.apply_status(_event("old", JobState.COMPLETED, stage="assembler", at=50.0, created_at=10.0, segments=4,
                              video_duration_s=3.2))
    board.apply_status(_event("new", JobState.QUEUED, at=20.0, created_at=20.0))
    page, total = board.page(None, 0, 10)
    assert total == 2 and [s.job_id for s in page] == ["new", "old"]
    assert page[1].state is JobState.COMPLETED and page[1].segments == 4 and page[1].created_at == 10.0
