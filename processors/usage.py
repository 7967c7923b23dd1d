"""What a record's work costs, measured where it runs, for the usage topic (schemas/usage.py).

CPU seconds are the pool thread's own CPU time (`time.thread_time`) around each piece of
work `StageContext.run_cpu` runs, charged to the meter of the record in hand: the stage
context starts one per record (or batch) it hands a stage, in a context variable, so the
work of other jobs running meanwhile on other threads is never charged to it.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Meter:
    cpu_s: float = 0.0
    gpu_s: float = 0.0


current_meter: ContextVar[Meter | None] = ContextVar("current_meter", default=None)


def start_meter() -> Meter:
    """A fresh meter for the record about to be served (in the stage's task context)."""
    meter = Meter()
    current_meter.set(meter)
    return meter


def charge(cpu_s: float, gpu_s: float = 0.0) -> None:
    meter = current_meter.get()
    if meter is not None:
        meter.cpu_s += cpu_s
        meter.gpu_s += gpu_s
