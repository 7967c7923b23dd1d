"""Which assigned partitions get rewound after a rebalance: stream partitions with no
committed offset, never a table's changelog."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from processors.rebalance import uncommitted


def test_only_stream_partitions_without_a_committed_offset_are_rewound() -> None:
    assigned = {TopicPartition("avatar.sentences", 0), TopicPartition("avatar.sentences", 1),
                TopicPartition("avatar.audio", 0), TopicPartition("avatar-stream-tts-cursor-changelog", 0)}
    committed = {TopicPartition("avatar.sentences", 1): OffsetAndMetadata(7, ""),
                 TopicPartition("avatar.audio", 0): OffsetAndMetadata(-1, "")}
    assert uncommitted(assigned, committed) == [TopicPartition("avatar.audio", 0),
                                                TopicPartition("avatar.sentences", 0)]


def test_nothing_to_rewind_when_every_partition_has_a_commit() -> None:
    assigned = {TopicPartition("avatar.frames", 2)}
    assert uncommitted(assigned, {TopicPartition("avatar.frames", 2): OffsetAndMetadata(0, "")}) == []
