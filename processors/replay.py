"""Reading a job's earlier records back from a topic partition, for stages that rebuild state.

A plain group-less aiokafka consumer on one partition, from a known offset up to
(not including) the record being processed; records of other jobs are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from processors.app import MAX_RECORD_BYTES
from processors.context import StageContext
from schemas.pipeline import FrameChunkMeta


async def read_job_chunks(ctx: StageContext, partition: int, start: int, stop: int,
                          key: bytes) -> AsyncIterator[tuple[FrameChunkMeta, bytes]]:
    """Frame chunks keyed `key` at offsets [start, stop) of the frames topic's `partition`."""
    tp = TopicPartition(ctx.settings.kafka.topics.frames, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=ctx.settings.kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, fetch_max_bytes=MAX_RECORD_BYTES,
                                max_partition_fetch_bytes=MAX_RECORD_BYTES)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=2000, max_records=16)
            records = batch.get(tp, [])
            if not records:
                return  # nothing more before `stop` can be read
            for record in records:
                if record.offset >= stop:
                    return
                if record.key == key:
                    yield FrameChunkMeta.from_headers(record.headers), record.value or b""
    finally:
        await consumer.stop()
