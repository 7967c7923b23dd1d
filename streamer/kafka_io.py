"""The gateway's Kafka clients: a producer for requests and status, and the readers.

Readers use no consumer group: every gateway replica reads every partition, so
each one can relay every job. Status and worker heartbeats are read from the
beginning of their compacted topics (that is how a restart finds its jobs and the
live workers); segments and captions from the end, with older segments served
from the media store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from core.kafka_admin import ensure_topics
from core.settings import FOLLOW_FETCH_WAIT_MS, KafkaSettings
from schemas.avatars import AvatarTrainRequest
from schemas.pipeline import CaptionChunk, SegmentMeta
from schemas.requests import ScriptRequest
from schemas.sessions import SessionInputRecord
from schemas.status import StatusEvent
from schemas.topics import MAX_RECORD_BYTES
from schemas.usage import UsageRecord
from schemas.webhooks import WebhookDelivery
from schemas.workers import WorkerHeartbeat
from streamer.jobs import JobBoard, JobView
from streamer.webhook_board import WebhookBoard
from streamer.workers import WorkerBoard

log = logging.getLogger(__name__)


class NotConnectedError(RuntimeError):
    """A send was attempted outside the lifespan (before start or after stop)."""


class GatewayKafka:
    def __init__(self, kafka: KafkaSettings, board: JobBoard, workers: WorkerBoard | None = None,
                 first_media: Callable[[JobView], None] | None = None) -> None:
        """`first_media(view)` is called when a job's first media segment arrives (metrics)."""
        self._kafka = kafka
        self._board = board
        self._first_media = first_media
        self._workers = WorkerBoard() if workers is None else workers
        self._producer: AIOKafkaProducer | None = None
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.webhooks = WebhookBoard()

    async def start(self) -> None:
        names = self._kafka.topics
        await ensure_topics(self._kafka.bootstrap_servers, names.specs(self._kafka.partitions))
        self._producer = AIOKafkaProducer(bootstrap_servers=self._kafka.bootstrap_servers,
                                          max_request_size=MAX_RECORD_BYTES, linger_ms=0, acks="all")
        await self._producer.start()
        await self._follow(names.status, from_start=True, handle=self._on_status)
        await self._follow(names.segments, from_start=False, handle=self._on_segment)
        await self._follow(names.captions, from_start=False, handle=self._on_captions)
        await self._follow(names.workers, from_start=True, handle=self._on_heartbeat)
        await self._follow(names.usage, from_start=True, handle=self._on_usage)
        await self._follow(names.webhook_deliveries, from_start=True, handle=self._on_webhook)

    async def _follow(self, topic: str, from_start: bool, handle: Callable[[ConsumerRecord], None]) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._kafka.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, fetch_max_bytes=MAX_RECORD_BYTES,
                                    max_partition_fetch_bytes=MAX_RECORD_BYTES,
                                    fetch_max_wait_ms=FOLLOW_FETCH_WAIT_MS)
        await consumer.start()
        self._consumers.append(consumer)
        partitions = [TopicPartition(topic, p) for p in sorted(await self._connected().partitions_for(topic))]
        consumer.assign(partitions)
        if from_start:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # pin the start now, before any job is accepted
        self._tasks.append(asyncio.create_task(self._read(consumer, handle), name=f"read-{topic}"))

    async def _read(self, consumer: AIOKafkaConsumer, handle: Callable[[ConsumerRecord], None]) -> None:
        async for record in consumer:
            try:
                handle(record)
            except Exception:  # one bad record must not stop the relay
                log.exception("skipping unreadable record %s[%d]@%d", record.topic, record.partition,
                              record.offset)

    def _on_status(self, record: ConsumerRecord) -> None:
        if record.value is not None:
            self._board.apply_status(StatusEvent.from_json(record.value))
        elif record.key:  # a tombstone: the retention sweep removed the job
            self._board.forget(record.key.decode(errors="replace"))

    def _on_segment(self, record: ConsumerRecord) -> None:
        meta = SegmentMeta.from_headers(record.headers)
        view = self._board.apply_segment(meta, record.value or b"", at=record.timestamp / 1000)
        if view is not None and meta.kind == "media" and meta.seq == 0 and self._first_media:
            self._first_media(view)

    def _on_captions(self, record: ConsumerRecord) -> None:
        if record.value is not None:
            self._board.apply_captions(CaptionChunk.from_json(record.value),
                                       at=record.timestamp / 1000)

    def _on_usage(self, record: ConsumerRecord) -> None:
        if record.value is not None:
            self._board.apply_usage(UsageRecord.from_json(record.value))

    def _on_webhook(self, record: ConsumerRecord) -> None:
        if record.value is not None:
            self.webhooks.apply(WebhookDelivery.from_json(record.value))

    async def send_usage(self, usage: UsageRecord) -> None:
        await self._connected().send_and_wait(self._kafka.topics.usage, usage.to_json(), key=usage.key)

    def _on_heartbeat(self, record: ConsumerRecord) -> None:
        beat = None if record.value is None else WorkerHeartbeat.from_json(record.value)
        self._workers.apply((record.key or b"").decode(errors="replace"), beat)

    async def send_request(self, request: ScriptRequest) -> None:
        await self._connected().send_and_wait(self._kafka.topics.requests, request.to_json(),
                                           key=request.job_id.encode())

    async def send_session_input(self, record: SessionInputRecord) -> None:
        await self._connected().send_and_wait(self._kafka.topics.session_input, record.to_json(),
                                              key=record.session_id.encode())

    def _connected(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise NotConnectedError("the gateway is not connected to Kafka")
        return self._producer

    async def send_avatar_request(self, request: AvatarTrainRequest) -> None:
        await self._connected().send_and_wait(self._kafka.topics.avatars, request.to_json(),
                                           key=request.avatar_id.encode())

    async def send_status(self, event: StatusEvent) -> None:
        await self._connected().send_and_wait(self._kafka.topics.status, event.to_json(),
                                           key=event.job_id.encode())

    async def send_tombstone(self, job_id: str) -> None:
        """Removes the job's status from the compacted topic, for every reader to come."""
        await self._connected().send_and_wait(self._kafka.topics.status, None, key=job_id.encode())

    async def broker_ok(self, timeout_s: float = 2.0) -> bool:
        if self._producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout_s))
        except Exception:  # noqa: BLE001 - any failure means "not ok" to a health check
            return False

    async def stop(self) -> None:
        """Idempotent: cancels the readers, stops every client."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
