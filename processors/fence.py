"""Work on a record whose partition was taken away since it was read writes no table.

Faust does not stop an agent when a rebalance revokes its partitions (`stream_wait_empty`
is off, so a rebalance never waits for a long record). The record in hand goes on, and
so can records a stage had read ahead. Their outputs to other topics are harmless repeats
(every stage drops a `(job_id, kind, seq)` it has seen), but a table write is not: the
changelog keeps the last write, and a write that lands after the new owner's writes puts
the table back in time. Seen: a revoked tts stage finished sentence 11 after the new
owner had spoken 11 and 12; the next owner recovered the cursor at 11 while the offsets
were committed past 12, and the job stalled for good ("sentence 13 arrived but the
cursor is at 11").

So a stage names the records in hand (`hand`), the consumer notes when each partition was
last revoked and when the latest seek began (processors/kafka_driver.py), and a record
read before either is stale: tables refuse its writes (`FencedTable`) and the stage does
not release it, so its offset is not committed and it is done again by whoever owns its
partition now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import faust
from faust.types import TP

log = logging.getLogger(__name__)

# the records the task is working on: (partition, when it was read, monotonic)
in_hand: ContextVar[tuple[tuple[TP, float], ...]] = ContextVar("in_hand", default=())


def hand(records: Iterable[tuple[TP, float]]) -> None:
    """The records this task works on from now until it names others."""
    in_hand.set(tuple(records))


def taken_since(consumer: Any, tp: TP, read_at: float) -> bool:
    """Whether `tp` was revoked, or a rebalance's seek began, after a record of it was read
    (`read_at`, monotonic). A record read after the seek began may still be of the old
    position (a fetch already on its way), which only makes a repeat; one read before is of
    the old position for certain. Not the seek's end: records read between are of the new
    position, and nothing would bring them again (seen: a job's chunks 26-55 dropped that
    way, and the job never ended)."""
    revoked = getattr(consumer, "revoked_at", {}).get(tp, 0.0)
    return read_at < max(revoked, float(getattr(consumer, "seeking_from", 0.0)))


def stale(app: faust.App) -> bool:
    """Whether any record in hand was read before its partition was taken away."""
    records = in_hand.get()
    if not records:
        return False
    consumer = app.consumer
    return any(taken_since(consumer, tp, read_at) for tp, read_at in records)


class FencedTable(faust.Table):
    """A Faust table that refuses the writes of stale work (see the module's doc). Writes
    made outside a stage's records (timers) are not fenced: they name no record in hand."""

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._refused(key):
            return
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        if self._refused(key):
            return
        super().__delitem__(key)

    def _refused(self, key: Any) -> bool:
        if not stale(self.app):
            return False
        log.warning("%s: write of %r refused: its record's partition was taken away since "
                    "it was read; the partition's owner does it again", self.name, key)
        return True

