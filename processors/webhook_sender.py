"""One webhook delivery's attempts: sign, check the target, POST, record, back off, again.

Every attempt is recorded on the delivery (and published by the caller), so the record on
the deliveries topic says what happened and when the next try is due; a worker that takes
the partition over resumes from there. Retries back off exponentially with full jitter
(a random wait below min(max, base * 2**n)) until `retry_s` after the delivery was made.
Redirects are not followed: a 3xx is a failed attempt (it could point anywhere).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from core.webhook_signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header
from core.webhook_targets import AllowList, WebhookTargetError, check_target, host_of
from processors.settings import WebhookSettings
from schemas.webhooks import WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 500

Publish = Callable[[WebhookDelivery], Awaitable[None]]


def backoff_ceiling(failures: int, base_s: float, max_s: float) -> float:
    """The longest wait after the `failures`-th failed attempt (1 for the first)."""
    return min(max_s, base_s * 2 ** max(0, failures - 1))


def backoff_delay(failures: int, base_s: float, max_s: float,
                  rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, ceiling), so receivers back from an outage are not hit
    by every sender at once."""
    return rand() * backoff_ceiling(failures, base_s, max_s)


def headers_for(delivery: WebhookDelivery, body: bytes, secret: str | None, now: float) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "avatar-stream-webhooks/1",
               DELIVERY_HEADER: delivery.delivery_id, EVENT_HEADER: delivery.event}
    if secret:
        headers[SIGNATURE_HEADER] = signature_header(secret, int(now), body)
    return headers


def after_attempt(delivery: WebhookDelivery, attempt: WebhookAttempt, ok: bool, settings: WebhookSettings,
                  rand: Callable[[], float] = random.random) -> WebhookDelivery:
    """The delivery with `attempt` recorded: delivered, pending with its next try, or failed
    when the next try would fall past `retry_s`."""
    if ok:
        return delivery.model_copy(update={"state": "delivered", "next_attempt_at": None,
                                           "attempts": [*delivery.attempts, attempt]})
    failures = len(delivery.attempts) + 1
    next_at = attempt.at + attempt.duration_s + backoff_delay(failures, settings.backoff_s,
                                                              settings.backoff_max_s, rand)
    if next_at > delivery.created_at + settings.retry_s:
        return delivery.model_copy(update={"state": "failed", "next_attempt_at": None,
                                           "attempts": [*delivery.attempts, attempt]})
    attempt = attempt.model_copy(update={"next_attempt_at": round(next_at, 3)})
    return delivery.model_copy(update={"next_attempt_at": round(next_at, 3),
                                       "attempts": [*delivery.attempts, attempt]})


class WebhookSender:
    def __init__(self, settings: WebhookSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.allow = AllowList.parse(settings.allow_hosts)
        self._client = client

    async def attempt(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """One POST, recorded; never raises for the receiver's or the network's faults."""
        body = delivery.body.to_json()
        started = time.time()
        clock = time.monotonic()
        status: int | None = None
        problem: str | None = None
        try:
            await check_target(delivery.url, self.allow)  # again: DNS may answer otherwise now
            response = await self._client.post(
                delivery.url, content=body, timeout=self.settings.timeout_s, follow_redirects=False,
                headers=headers_for(delivery, body, self.settings.secret, time.time()))
            status = response.status_code
            if not 200 <= status < 300:
                problem = f"HTTP {status}"
        except WebhookTargetError as exc:
            problem = str(exc)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempt = WebhookAttempt(at=round(started, 3), status_code=status,
                                 error=None if problem is None else problem[:MAX_ERROR_CHARS],
                                 duration_s=round(time.monotonic() - clock, 3))
        updated = after_attempt(delivery, attempt, problem is None, self.settings)
        log.info("webhook %s %s to %s: attempt %d %s", delivery.delivery_id, delivery.event,
                 _host(delivery.url), len(updated.attempts), problem or "delivered")
        return updated

    async def run(self, delivery: WebhookDelivery, publish: Publish) -> WebhookDelivery:
        """Attempts until delivered or given up, each recorded and published before the wait."""
        while delivery.state == "pending":
            wait_s = (delivery.next_attempt_at or 0.0) - time.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            delivery = await self.attempt(delivery)
            await publish(delivery)
        return delivery


def _host(url: str) -> str:
    """For logs: the host only (a URL's path or query may carry the receiver's token)."""
    try:
        return host_of(url)
    except WebhookTargetError:
        return "?"
