"""Deadline order across jobs, arrival order within each; the read-ahead bound."""

import asyncio

from processors.schedule import DeadlineQueue, ReadAhead


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _queue(clock: Clock) -> DeadlineQueue[tuple[str, float]]:
    return DeadlineQueue(lambda entry: entry[1], clock)


def test_a_new_jobs_first_record_goes_before_a_running_jobs_later_ones() -> None:
    clock = Clock()
    q = _queue(clock)
    for k in range(5):
        q.put("a", ("a", float(k)))
    assert q.take() == ("a", ("a", 0.0))  # a is first seen now: its position 0 is due now
    clock.now += 0.5
    q.put("b", ("b", 0.0))  # b arrives behind four records of a in the partition
    assert q.take() == ("b", ("b", 0.0))  # due now; a's next is due 0.5 s from now
    assert [q.take() for _ in range(4)] == [("a", ("a", float(k))) for k in range(1, 5)]
    assert q.take() is None and len(q) == 0


def test_jobs_take_turns_by_where_their_viewers_are() -> None:
    clock = Clock()
    q = _queue(clock)
    for k in range(3):
        q.put("a", ("a", 2.0 * k))
        q.put("b", ("b", 2.0 * k + 1.0))
    order = [q.take() for _ in range(6)]
    assert [job for job, _ in order] == ["a", "b", "a", "b", "a", "b"]  # both first seen at 100


def test_a_job_first_seen_halfway_is_due_at_once() -> None:
    clock = Clock()
    q = _queue(clock)
    q.put("a", ("a", 1.0))
    q.take()
    clock.now += 0.2
    q.put("a", ("a", 30.0))  # a is far ahead of its viewer
    q.put("b", ("b", 40.0))  # b taken over after a fail-over: halfway through
    assert q.take() == ("b", ("b", 40.0))


def test_positions_are_read_when_a_head_is_chosen() -> None:
    positions = {"a": 0.0, "b": 0.0}
    clock = Clock()
    q: DeadlineQueue[str] = DeadlineQueue(lambda job: positions[job], clock)
    q.put("a", "a")
    q.put("b", "b")
    q.put("a", "a")
    assert q.take() == ("a", "a")
    positions["a"] = 10.0  # what a's first record made of it (the tts stage's spoken audio)
    assert q.take() == ("b", "b")


async def test_read_ahead_waits_for_room_by_count_and_bytes() -> None:
    room = ReadAhead(records=3, max_bytes=100)
    await room.acquire(200)  # one record always fits, however large
    blocked = asyncio.ensure_future(room.acquire(10))
    await asyncio.sleep(0)
    assert not blocked.done()
    await room.release(200)
    await asyncio.wait_for(blocked, 1)
    await room.acquire(10)
    await room.acquire(10)
    assert room.held == 3
    fourth = asyncio.ensure_future(room.acquire(1))
    await asyncio.sleep(0)
    assert not fourth.done()  # three records: full by count
    await room.release(10)
    await asyncio.wait_for(fourth, 1)


def test_a_record_further_ahead_than_the_lead_waits() -> None:
    clock = Clock()
    q = _queue(clock)
    for k in range(3):
        q.put("a", ("a", 6.0 * k))
    assert q.take(lead_s=10.0) == ("a", ("a", 0.0))
    assert q.take(lead_s=10.0) == ("a", ("a", 6.0))
    assert q.take(lead_s=10.0) is None  # due in 12 s: more than the lead ahead
    assert q.earliest() == ("a", 112.0)
    clock.now += 2.0
    assert q.take(lead_s=10.0) == ("a", ("a", 12.0))
