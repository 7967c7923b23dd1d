"""After a rebalance: partitions without a committed offset start again from their first record.

Faust seeks a newly assigned partition to its committed offset only when it has one. Records
it fetched from such a partition during recovery, while it paused and resumed partitions,
can be dropped before they reach an agent, and with no seek they are never fetched again:
the job on that partition stalls on the new owner (seen after a worker was killed before
its first commit). Rewinding those partitions to their start once the rebalance is over
re-reads them; the stages drop what they see twice.
"""

from __future__ import annotations

import asyncio
import logging

import faust
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)


def uncommitted(assigned: set[TopicPartition], committed: dict[TopicPartition, object]) -> list[TopicPartition]:
    """The assigned stream partitions (not table changelogs) with no committed offset."""
    def offset(tp: TopicPartition) -> int:
        meta = committed.get(TopicPartition(tp.topic, tp.partition))
        return -1 if meta is None else int(getattr(meta, "offset", -1))

    return sorted((tp for tp in assigned if not tp.topic.endswith("-changelog") and offset(tp) < 0),
                  key=lambda tp: (tp.topic, tp.partition))


async def rewind_uncommitted(app: faust.App, bootstrap_servers: str, group_id: str) -> None:
    while app.rebalancing:  # Faust's own seek to the committed offsets comes first
        await asyncio.sleep(0.05)
    consumer = app.consumer
    assigned = set(consumer.assignment())
    if not assigned:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    missing = uncommitted(assigned, committed)
    if not missing:
        return
    earliest = await consumer.earliest_offsets(*missing)
    for tp in missing:
        await consumer.seek(tp, earliest[tp])
    log.info("rewound %d partitions without a committed offset to their first record", len(missing))
