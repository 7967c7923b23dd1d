"""Work on a record whose partition was taken away writes no table (processors/fence.py),
on the worker's own Faust app, table class and consumer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from faust.types import TP

from cli.stack import Stack
from core.settings import KafkaSettings
from processors.app import create_app
from processors.fence import FencedTable, hand, in_hand, stale, taken_since
from processors.settings import WorkerSettings

SENTENCES = TP("avatar.sentences", 1)
OTHER = TP("avatar.sentences", 0)


@pytest.fixture
def app(tmp_path: Path):
    return create_app(WorkerSettings(data_dir=tmp_path))


@pytest.fixture
def broker_app(tmp_path: Path, stack: Stack):
    """The app with its producer started on the real broker: a current write goes to Kafka."""
    kafka = KafkaSettings(bootstrap_servers=stack.bootstrap, topic_prefix=f"fence{tmp_path.name[-8:]}")
    return create_app(WorkerSettings(data_dir=tmp_path, kafka=kafka))


def test_a_record_read_before_its_partition_was_revoked_is_stale(app) -> None:
    consumer = app.consumer
    read_at = time.monotonic()
    assert not taken_since(consumer, SENTENCES, read_at)
    consumer.revoked_at[OTHER] = read_at + 1.0
    assert not taken_since(consumer, SENTENCES, read_at)  # another partition's revoke
    consumer.revoked_at[SENTENCES] = read_at + 1.0
    assert taken_since(consumer, SENTENCES, read_at)
    assert not taken_since(consumer, SENTENCES, read_at + 2.0)  # read after the revoke


def test_a_record_read_before_the_latest_seek_began_is_stale(app) -> None:
    consumer = app.consumer
    read_at = time.monotonic()
    consumer.seeking_from = read_at + 0.5
    assert taken_since(consumer, SENTENCES, read_at)
    assert not taken_since(consumer, SENTENCES, read_at + 1.0)


def test_the_workers_tables_refuse_the_writes_of_stale_work(broker_app) -> None:
    app = broker_app

    async def main() -> None:
        table = await _started_table(app, "fence-test")
        assert isinstance(table, FencedTable)
        read_at = time.monotonic()
        hand([(SENTENCES, read_at)])
        table[b"job"] = b"cursor 11"  # the record in hand is current: written
        assert table[b"job"] == b"cursor 11"
        app.consumer.revoked_at[SENTENCES] = time.monotonic()
        assert stale(app)
        table[b"job"] = b"cursor 11 again, late"  # the partition went while it was worked on
        del table[b"job"]
        assert table[b"job"] == b"cursor 11"
        hand([(SENTENCES, time.monotonic())])  # a record read since: its writes count
        table[b"job"] = b"cursor 12"
        assert table[b"job"] == b"cursor 12"
        await app.producer.flush()
        await app.producer.stop()
        assert await _changelog(app, table) == [b"cursor 11", b"cursor 12"]  # Kafka has no late write

    asyncio.run(main())


async def _started_table(app, name: str):
    """A table like the stages' (bytes to bytes, changelogged), with the producer started."""
    await app.producer.start()
    table = app.Table(name, default=None, partitions=2, key_type=bytes, value_type=bytes,
                      use_partitioner=True)
    await table.changelog_topic.maybe_declare()
    return table


async def _changelog(app, table) -> list[bytes | None]:
    """Every value on the table's changelog topic, read back from the broker to its end."""
    consumer = AIOKafkaConsumer(table.changelog_topic.get_topic_name(),
                                bootstrap_servers=app.conf.broker[0].authority,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        values: list[bytes | None] = []
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            values += [r.value for records in batches.values() for r in records]
            parts = list(consumer.assignment())  # empty until the first metadata
            if parts:
                ends = await consumer.end_offsets(parts)
                if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                    return values
    finally:
        await consumer.stop()


def test_writes_that_name_no_record_are_not_fenced(broker_app) -> None:
    app = broker_app

    async def main() -> None:
        table = await _started_table(app, "fence-timer")
        app.consumer.revoked_at[SENTENCES] = time.monotonic()
        assert in_hand.get() == ()
        table[b"waiting"] = b"held"  # a timer's write, outside any stage's records
        assert table[b"waiting"] == b"held"
        await app.producer.flush()
        await app.producer.stop()

    asyncio.run(main())
