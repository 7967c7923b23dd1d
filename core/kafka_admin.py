"""Creates the project's topics with explicit partitions and configs (idempotent)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import TopicSpec

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap_servers: str, specs: list[TopicSpec]) -> list[str]:
    """Returns the names it created; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(s.name, s.partitions, 1, topic_configs=s.config)
                                           for s in missing])
            except TopicAlreadyExistsError:
                pass  # another process won the race
            log.info("created topics %s", [s.name for s in missing])
        return [s.name for s in missing]
    finally:
        await admin.close()
