"""Helpers for tests that talk to the session's broker directly: produce, read a topic back,
and wait until the worker has processed a record (its group committed past it; Faust flushes
everything a record sent before it commits the record's offset)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cli.stack import Stack
from tests.e2e.gateway_util import poll

WORKER_GROUP = "avatar-stream"  # the worker's Faust app id, its consumer group


async def produce(stack: Stack, topic: str,
                  records: Sequence[tuple[bytes | None, bytes, list[tuple[str, bytes]] | None]],
                  ) -> list[tuple[int, int]]:
    """(key, value, headers) records in order; returns each one's (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, max_request_size=64 * 1024 * 1024)
    await producer.start()
    try:
        placed = []
        for key, value, headers in records:
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers)
            placed.append((meta.partition, meta.offset))
        return placed
    finally:
        await producer.stop()


async def read_topic(stack: Stack, topic: str, keep: Callable[[ConsumerRecord], bool],
                     until: Callable[[list[ConsumerRecord]], bool] | None = None,
                     timeout_s: float = 60.0) -> list[ConsumerRecord]:
    """The topic's records that `keep` accepts, from the beginning: all of those up to the
    topic's end now, or (with `until`) as many as it takes, failing at the deadline."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        found: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not consumer.assignment():  # with no group, every partition once metadata is in
            assert time.monotonic() < deadline, f"no partitions for {topic}"
            batch = await consumer.getmany(timeout_ms=100)
            found += [r for records in batch.values() for r in records if keep(r)]
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [r for records in batch.values() for r in records if keep(r)]
            if until is not None and until(found):
                return found
            if until is None and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                return found
        raise AssertionError(f"{topic}: not found within {timeout_s}s; kept {len(found)} records")
    finally:
        await consumer.stop()


async def processed(stack: Stack, topic: str, partition: int, offset: int,
                    timeout_s: float = 60.0) -> None:
    """Until the worker's group has committed an offset past `offset` on the partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    tp = TopicPartition(topic, partition)
    try:
        async def check() -> bool | None:
            offsets = await admin.list_consumer_group_offsets(WORKER_GROUP, partitions=[tp])
            committed = offsets.get(tp)
            return True if committed is not None and committed.offset > offset else None
        await poll(check, timeout_s, every_s=0.2)
    finally:
        await admin.close()
