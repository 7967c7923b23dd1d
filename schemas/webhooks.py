"""Signed webhooks: the event body a receiver gets, and the delivery record on the compacted
webhook-deliveries topic (key: delivery_id), which holds every attempt.

A delivery's id is derived from the job id and the event, so a status record read twice
makes the same delivery: receivers dedupe on `Avatar-Delivery` (at-least-once delivery).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field

from schemas.base import Message

WebhookEventName = Literal["job.completed", "job.failed", "avatar.ready", "avatar.failed"]
DeliveryState = Literal["pending", "delivered", "failed"]
MAX_WEBHOOK_URL_CHARS = 2048


def delivery_id_of(job_id: str, event: str) -> str:
    """Stable for a job's event: the same status record again names the same delivery."""
    return hashlib.sha256(f"{job_id}\n{event}".encode()).hexdigest()[:32]


class WebhookEvent(Message):
    """The JSON body POSTed to the receiver; signed as `f"{t}.{body}"` (see README)."""

    event: WebhookEventName
    delivery_id: str
    job_id: str = Field(description="the job's id; for avatar events the avatar's id")
    avatar_id: str | None = None
    state: str = Field(description="the job's final state: completed, failed (or ready for avatars)")
    created_at: float | None = Field(None, description="unix seconds the job was submitted")
    finished_at: float = Field(description="unix seconds of the final status event")
    video_url: str | None = Field(None, description="path of the final MP4 on the gateway")
    error: str | None = Field(None, description="why it failed")
    message: str | None = None


class WebhookAttempt(Message):
    at: float = Field(description="unix seconds the attempt started")
    status_code: int | None = Field(None, description="the receiver's HTTP status, if it answered")
    error: str | None = Field(None, description="why the attempt failed without a 2xx")
    duration_s: float = 0.0
    next_attempt_at: float | None = Field(None, description="unix seconds of the next try; none after the last")


class WebhookDelivery(Message):
    """One event to one URL, with its attempts so far; the newest record per id wins."""

    delivery_id: str
    job_id: str
    event: WebhookEventName
    url: str
    state: DeliveryState
    created_at: float
    next_attempt_at: float | None = None
    attempts: list[WebhookAttempt] = Field(default_factory=list)
    body: WebhookEvent


class WebhookDeliveryList(Message):
    """`GET /api/v1/jobs/{job_id}/webhooks`: the job's deliveries, oldest first."""

    job_id: str
    deliveries: list[WebhookDelivery]
