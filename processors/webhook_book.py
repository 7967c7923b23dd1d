"""Every webhook delivery's latest record, read from the compacted deliveries topic.

Read from the beginning with no consumer group (as JobControl reads the status topic), so
a restarted worker finds the deliveries still pending and resumes them. A delivery lies on
the partition number of its job's status record, so the worker that owns that status
partition owns the delivery's attempts.
"""

from __future__ import annotations

import logging

from aiokafka import ConsumerRecord

from processors.topic_follower import TopicFollower
from schemas.webhooks import WebhookDelivery

log = logging.getLogger(__name__)


class DeliveryBook(TopicFollower):
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(bootstrap_servers, topic)
        self._latest: dict[str, tuple[int, WebhookDelivery]] = {}

    def get(self, delivery_id: str) -> WebhookDelivery | None:
        found = self._latest.get(delivery_id)
        return None if found is None else found[1]

    def put(self, partition: int, delivery: WebhookDelivery) -> None:
        """What this worker just published, known before the topic echoes it. A delivery's
        attempts only grow, so an older echo never replaces a newer record."""
        kept = self._latest.get(delivery.delivery_id)
        if kept is not None and _newer(kept[1], delivery):
            return
        self._latest[delivery.delivery_id] = (partition, delivery)

    def pending(self, partitions: set[int]) -> list[tuple[int, WebhookDelivery]]:
        """(partition, delivery) of each pending delivery on those partitions."""
        return [(p, d) for p, d in self._latest.values() if p in partitions and d.state == "pending"]

    def on_record(self, record: ConsumerRecord) -> None:
        if record.value is None:
            return
        try:
            delivery = WebhookDelivery.from_json(record.value)
        except ValueError:
            log.warning("unreadable webhook delivery at %d@%d", record.partition, record.offset)
            return
        self.put(record.partition, delivery)


def _newer(kept: WebhookDelivery, incoming: WebhookDelivery) -> bool:
    """Whether the kept record says more than the incoming one (a late echo)."""
    return kept.state != "pending" or len(kept.attempts) > len(incoming.attempts)
