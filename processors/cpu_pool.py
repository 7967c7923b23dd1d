"""The worker's CPU pool, serving work by deadline across stages.

Every stage hands its heavy work (speech, rendering, encoding) to one pool of threads. In
arrival order, the tts stage speaking ahead for six jobs at once kept the encoder from the
segments those viewers needed next. Here each piece of work carries the deadline of the
record it is for (`due`, set by `StageContext.scheduled` for the record in hand), and a
free thread takes the earliest; work without one is due when it is submitted.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

# the deadline (time.monotonic()) of the record the current task is serving, if any
current_due: ContextVar[float | None] = ContextVar("current_due", default=None)


class DeadlinePool:
    """`threads` daemon threads; `submit(due, fn, *args)` runs the earliest-due work first."""

    def __init__(self, threads: int, name: str = "cpu") -> None:
        self._work: list[tuple[float, int, Callable[..., Any], tuple[Any, ...], Future[Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{k}", daemon=True)
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, due: float | None, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the CPU pool is shut down")
            heapq.heappush(self._work, (time.monotonic() if due is None else due,
                                        next(self._order), fn, args, future))
            self._ready.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._work and not self._closed:
                    self._ready.wait()
                if not self._work:
                    return
                _due, _n, fn, args, future = heapq.heappop(self._work)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits it
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Work already submitted still runs; new work is refused."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
