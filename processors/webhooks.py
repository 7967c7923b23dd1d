"""status -> webhook deliveries: a job's final state POSTed, signed, to its webhook_url.

The request's webhook_url rides on the job's first status events (the gateway's queued
one, the chunker's or avatar stage's running one); this stage keeps it in the
`webhook-targets` table (changelog in Kafka) until the job's final event. Then the delivery
is recorded as pending on the compacted deliveries topic before the status record is
committed, so a crash loses none, and sent from a task of its own (processors/
webhook_sender.py), so a slow receiver never holds up this agent. A restarted worker reads
the deliveries topic again (processors/webhook_book.py) and resumes what is still pending
on the partitions it owns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

import faust
import httpx
import mode
import orjson
from faust.exceptions import PartitionsMismatch

from processors.context import StageContext
from processors.webhook_book import DeliveryBook
from processors.webhook_sender import WebhookSender
from schemas.avatars import AVATAR_STAGE
from schemas.status import JobState, StatusEvent
from schemas.webhooks import WebhookDelivery, WebhookEvent, WebhookEventName, delivery_id_of

STAGE = "webhooks"
log = logging.getLogger(__name__)


def event_name(status: StatusEvent) -> WebhookEventName | None:
    """The webhook event a status event ends its job with; None while it is not final (and
    for a cancelled job: its owner cancelled it)."""
    avatar = status.stage == AVATAR_STAGE
    if status.state is JobState.COMPLETED:
        return "avatar.ready" if avatar else "job.completed"
    if status.state is JobState.FAILED:
        return "avatar.failed" if avatar else "job.failed"
    return None


def new_delivery(status: StatusEvent, name: WebhookEventName, url: str, created_at: float | None,
                 now: float) -> WebhookDelivery:
    delivery_id = delivery_id_of(status.job_id, name)
    completed = name == "job.completed"
    body = WebhookEvent(event=name, delivery_id=delivery_id, job_id=status.job_id,
                        avatar_id=status.avatar_id,
                        state="ready" if name == "avatar.ready" else status.state.value,
                        created_at=status.created_at or created_at, finished_at=status.at,
                        video_url=f"/api/v1/video/{status.job_id}" if completed else None,
                        error=status.error, message=status.message)
    return WebhookDelivery(delivery_id=delivery_id, job_id=status.job_id, event=name, url=url,
                           state="pending", created_at=now, next_attempt_at=now, body=body)


class Deliveries:
    """The sending side: one task per pending delivery this worker owns."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.book = DeliveryBook(ctx.settings.kafka.bootstrap_servers,
                                 ctx.settings.kafka.topics.webhook_deliveries)
        self._client = httpx.AsyncClient()
        self._sender = WebhookSender(ctx.settings.webhooks, self._client)
        self._tasks: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self._resuming: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.ctx.settings.webhooks.secret:
            log.warning("AVATAR_WEBHOOK_SECRET is not set: webhooks go out unsigned, and "
                        "receivers cannot tell them from forged ones")
        await self.book.start()

    async def stop(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        if self._resuming is not None:
            tasks.append(self._resuming)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.book.stop()
        await self._client.aclose()

    async def publish(self, partition: int, delivery: WebhookDelivery) -> None:
        self.book.put(partition, delivery)
        await self.ctx.topics.webhook_deliveries.send(key=delivery.delivery_id.encode(),
                                                      value=delivery.to_json(), partition=partition)

    def launch(self, partition: int, delivery: WebhookDelivery) -> None:
        running = self._tasks.get(delivery.delivery_id)
        if running is not None and not running[1].done():
            return
        task = asyncio.create_task(self._send(partition, delivery), name=f"webhook-{delivery.delivery_id}")
        self._tasks[delivery.delivery_id] = (partition, task)

    async def _send(self, partition: int, delivery: WebhookDelivery) -> None:
        try:
            await self._sender.run(delivery, functools.partial(self.publish, partition))
        except asyncio.CancelledError:
            raise
        except Exception:  # a broker hiccup while publishing: the next owner or restart resumes
            log.exception("webhook %s stopped", delivery.delivery_id)
        finally:
            if self._tasks.get(delivery.delivery_id, (None, None))[1] is asyncio.current_task():
                del self._tasks[delivery.delivery_id]

    def rebalanced(self, owned: set[int]) -> None:
        """Called as a rebalance completes: resumes in a task, so the rebalance waits for none."""
        if self._resuming is not None:
            self._resuming.cancel()
        self._resuming = asyncio.create_task(self._resume(owned), name="webhook-resume")

    async def _resume(self, owned: set[int]) -> None:
        """Sends what is pending on the partitions this worker owns now, and stops the rest."""
        for delivery_id, (partition, task) in list(self._tasks.items()):
            if partition not in owned:
                task.cancel()
                del self._tasks[delivery_id]
        await self.book.sync()
        for partition, delivery in self.book.pending(owned):
            self.launch(partition, delivery)


async def _keep(targets: faust.Table, key: bytes, value: bytes | None, tries: int = 100) -> None:
    """Sets (or with None deletes) a target. Right after the changelog topic was created, the
    consumer may not know its partitions yet and Faust refuses the write (PartitionsMismatch):
    the write waits for the metadata rather than losing the job's webhook."""
    for attempt in range(tries):
        try:
            if value is None:
                del targets[key]
            else:
                targets[key] = value
            return
        except PartitionsMismatch:
            if attempt == tries - 1:
                raise
            log.info("webhook-targets changelog not in the metadata yet; retrying")
            await asyncio.sleep(0.2)


def _parse(event: faust.EventT) -> StatusEvent | None:
    """None for a tombstone (nothing to tell); an unreadable event is a dead letter."""
    return None if event.value is None else StatusEvent.from_json(event.value)


async def webhooks(ctx: StageContext, targets: faust.Table, deliveries: Deliveries,
                   stream: faust.StreamT) -> None:
    async for event, status in ctx.records(stream, STAGE, _parse, skip_stopped=False):
        if status is None:
            continue
        key = status.job_id.encode()
        name = event_name(status)
        if status.webhook_url and name is None:
            target = orjson.dumps({"url": status.webhook_url, "created_at": status.created_at})
            if targets.get(key) != target:
                await _keep(targets, key, target)
            continue
        raw = targets.get(key)
        if name is None:
            if raw is not None and status.state.final:  # cancelled: no event, nothing to keep
                await _keep(targets, key, None)
            continue
        kept = None if raw is None else orjson.loads(raw)
        url = status.webhook_url or (None if kept is None else kept["url"])
        if url is None:
            continue
        delivery_id = delivery_id_of(status.job_id, name)
        if deliveries.book.get(delivery_id) is None:
            await deliveries.book.sync()  # made before this worker's start, or by another owner?
        if deliveries.book.get(delivery_id) is None:
            delivery = new_delivery(status, name, url, None if kept is None else kept["created_at"],
                                    time.time())
            partition = event.message.partition
            await deliveries.publish(partition, delivery)
            await ctx.app.producer.flush()  # pending on the topic before the status is committed
            deliveries.launch(partition, delivery)
        if raw is not None:
            await _keep(targets, key, None)


def register(ctx: StageContext) -> None:
    targets = ctx.app.Table("webhook-targets", default=None, partitions=ctx.settings.kafka.partitions,
                            key_type=bytes, value_type=bytes)
    deliveries = Deliveries(ctx)
    status_topic = ctx.settings.kafka.topics.status

    @ctx.app.service
    class _Deliveries(mode.Service):  # started and stopped with the worker
        async def on_start(self) -> None:
            await deliveries.start()

        async def on_stop(self) -> None:
            await deliveries.stop()

    async def on_rebalanced(sender: faust.App, **_: object) -> None:
        owned = {tp.partition for tp in ctx.app.consumer.assignment() if tp.topic == status_topic}
        deliveries.rebalanced(owned)

    ctx.app.on_rebalance_complete.connect(on_rebalanced)
    ctx.app.agent(ctx.topics.status, name=STAGE)(functools.partial(webhooks, ctx, targets, deliveries))
