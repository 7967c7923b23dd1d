"""Where partitions start after a rebalance (stream partitions that no committed offset
places start at their first record, never a changelog), and how the delivery watchdog
tells records that never reached their stage."""

from __future__ import annotations

from faust.types import TP
from intervaltree import IntervalTree

from processors.kafka_driver import done_from, unstarted
from processors.rebalance import DeliveryLedger


def test_stream_partitions_without_a_committed_offset_start_at_their_first_record() -> None:
    committed = {TP("avatar.sentences", 0): None, TP("avatar.sentences", 1): 7,
                 TP("avatar.audio", 0): -1, TP("avatar.frames", 3): 0,
                 TP("avatar-stream-tts-cursor-changelog", 0): None}
    assert unstarted(committed) == [TP("avatar.audio", 0), TP("avatar.frames", 3),
                                    TP("avatar.sentences", 0)]


def test_nothing_moves_when_every_partition_has_a_commit() -> None:
    assert unstarted({TP("avatar.frames", 2): 12, TP("avatar.audio", 0): 1}) == []


TP0 = TP("avatar.frames", 1)


def test_deliveries_in_order_lose_nothing() -> None:
    ledger = DeliveryLedger()
    for offset in (199, 200, 201):
        ledger.delivered(TP0, offset, start=199, now=1.0)
    assert ledger.next[TP0] == 202 and not ledger.lost


def test_a_record_past_the_next_one_means_the_ones_between_were_lost() -> None:
    # seen: chunk 71 of a job reached the encoder, chunks 54-70 never did
    ledger = DeliveryLedger()
    ledger.delivered(TP0, 199, start=199, now=1.0)
    ledger.delivered(TP0, 216, start=199, now=1.1)
    assert ledger.lost == {TP0: 200}
    first = DeliveryLedger()
    first.delivered(TP0, 5, start=0, now=1.0)  # the very first delivery after the seek
    assert first.lost == {TP0: 0}


def test_after_a_seek_back_the_rest_of_the_old_batch_is_not_judged() -> None:
    ledger = DeliveryLedger()
    ledger.delivered(TP0, 216, start=199, now=1.0)
    ledger.sought_back(TP0, 199, now=2.0)
    assert not ledger.lost
    ledger.delivered(TP0, 217, start=199, now=2.1)  # was already on its way
    assert not ledger.lost and ledger.next[TP0] == 199
    for offset in range(199, 218):
        ledger.delivered(TP0, offset, start=199, now=2.2)
    assert not ledger.lost and ledger.next[TP0] == 218


def test_nothing_is_judged_before_the_rebalance_has_placed_the_partition() -> None:
    ledger = DeliveryLedger()
    ledger.delivered(TP0, 40, start=None, now=1.0)
    ledger.delivered(TP0, 41, start=None, now=1.1)
    assert not ledger.lost and ledger.next[TP0] == 42


def test_a_loss_is_reported_once_when_it_is_first_seen() -> None:
    ledger = DeliveryLedger()
    assert ledger.delivered(TP0, 199, start=199, now=1.0) is False
    assert ledger.delivered(TP0, 216, start=199, now=1.1) is True  # the watchdog acts on this
    assert ledger.delivered(TP0, 217, start=199, now=1.2) is False  # the same loss, known


def test_a_commit_waits_for_the_record_at_its_head() -> None:
    assert not done_from(10, [11, 12], IntervalTree())  # Faust would commit 13 past 10 here
    assert done_from(10, [12, 10, 11], IntervalTree())
    gaps = IntervalTree()
    gaps.addi(10, 11)  # offset 10 is not in the partition (never delivered)
    assert done_from(10, [11], gaps)
