"""The loadtest's lateness: segments against real-time playback behind a 2 s buffer."""

from cli.client import WatchResult
from schemas.ws import KIND_MEDIA, MediaMessage


def _watched(arrivals: list[float], duration_s: float = 1.0) -> WatchResult:
    result = WatchResult(job_id="j", ttfs_s=arrivals[0], wall_s=arrivals[-1], init=b"")
    for seq, at in enumerate(arrivals):
        result.media.append(MediaMessage(KIND_MEDIA, seq, seq * duration_s, duration_s, b""))
        result.arrived_s.append(at)
    return result


def test_a_stream_faster_than_playback_is_never_late() -> None:
    assert _watched([1.0, 1.1, 1.2, 1.3]).lateness_s() == 0.0


def test_a_gap_longer_than_the_buffer_is_late_by_the_difference() -> None:
    # playback of segment 2 starts at 1.0 + 2 + 2 = 5.0; it came at 6.5
    assert abs(_watched([1.0, 1.5, 6.5]).lateness_s() - 1.5) < 1e-9
    assert _watched([1.0, 1.5, 4.9]).lateness_s() == 0.0  # within the buffer


def test_a_job_that_waited_for_a_slot_says_its_first_place_and_estimate() -> None:
    result = _watched([5.0, 5.1])
    assert result.waited_in_line() == (None, None)
    result.messages += [{"type": "status", "status": {"state": "queued", "queue_position": None}},
                        {"type": "status", "status": {"state": "queued", "queue_position": 3,
                                                      "estimated_start_s": 12.5}},
                        {"type": "status", "status": {"state": "queued", "queue_position": 1,
                                                      "estimated_start_s": 2.0}}]
    assert result.waited_in_line() == (3, 12.5)
