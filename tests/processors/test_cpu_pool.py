"""The CPU pool takes the earliest-due work first, whatever the order it came in."""

import threading

import pytest

from processors.cpu_pool import DeadlinePool


def test_the_earliest_due_work_runs_first() -> None:
    pool = DeadlinePool(1)
    gate = threading.Event()
    ran: list[str] = []
    busy = pool.submit(0.0, gate.wait, 10)  # holds the only thread
    later = pool.submit(200.0, ran.append, "tts, 8 s ahead")
    sooner = pool.submit(100.0, ran.append, "encoder, due now")
    gate.set()
    busy.result(10), later.result(10), sooner.result(10)
    assert ran == ["encoder, due now", "tts, 8 s ahead"]
    pool.shutdown()


def test_errors_reach_the_caller_and_the_pool_goes_on() -> None:
    pool = DeadlinePool(1)
    with pytest.raises(ZeroDivisionError):
        pool.submit(None, lambda: 1 / 0).result(10)
    assert pool.submit(None, lambda: 42).result(10) == 42
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(None, lambda: 1)
