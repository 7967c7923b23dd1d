"""The webhook retry schedule: exponential ceilings, full jitter below them, a deadline."""

from __future__ import annotations

import pytest

from processors.settings import WebhookSettings
from processors.webhook_book import DeliveryBook
from processors.webhook_sender import after_attempt, backoff_ceiling, backoff_delay, headers_for
from processors.webhooks import event_name, new_delivery
from schemas.status import JobState, StatusEvent
from schemas.webhooks import WebhookAttempt, WebhookDelivery, delivery_id_of

SETTINGS = WebhookSettings(secret="s", retry_s=100.0, backoff_s=1.0, backoff_max_s=30.0)


def test_ceilings_double_up_to_the_cap() -> None:
    assert [backoff_ceiling(n, 1.0, 30.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert backoff_delay(4, 1.0, 30.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(4, 1.0, 30.0, rand=lambda: 0.5) == 4.0
    assert backoff_delay(4, 1.0, 30.0, rand=lambda: 0.999) < 8.0


def _delivery(created_at: float = 1000.0) -> WebhookDelivery:
    status = StatusEvent(job_id="j1", state=JobState.COMPLETED, stage="assembler", at=created_at)
    return new_delivery(status, "job.completed", "http://127.0.0.1:1/hook", created_at - 5, created_at)


def _attempt(at: float, code: int | None = 500) -> WebhookAttempt:
    return WebhookAttempt(at=at, status_code=code, error=None if code == 200 else f"HTTP {code}")


def test_a_failed_attempt_schedules_the_next_within_its_ceiling() -> None:
    delivery = _delivery()
    first = after_attempt(delivery, _attempt(1000.0), ok=False, settings=SETTINGS, rand=lambda: 0.5)
    assert first.state == "pending" and first.next_attempt_at == 1000.5
    assert first.attempts[-1].next_attempt_at == 1000.5
    second = after_attempt(first, _attempt(1000.5), ok=False, settings=SETTINGS, rand=lambda: 0.5)
    assert second.next_attempt_at == 1001.5 and len(second.attempts) == 2
    done = after_attempt(second, _attempt(1001.5, 200), ok=True, settings=SETTINGS)
    assert done.state == "delivered" and done.next_attempt_at is None and len(done.attempts) == 3


def test_a_delivery_gives_up_when_the_next_try_would_pass_retry_s() -> None:
    late = after_attempt(_delivery(), _attempt(1099.5), ok=False, settings=SETTINGS, rand=lambda: 0.99)
    assert late.state == "failed" and late.next_attempt_at is None
    assert late.attempts[-1].next_attempt_at is None


def test_the_delivery_id_is_stable_per_job_and_event() -> None:
    assert _delivery().delivery_id == _delivery(2000.0).delivery_id == delivery_id_of("j1", "job.completed")
    assert delivery_id_of("j1", "job.failed") != delivery_id_of("j1", "job.completed")
    assert _delivery().body.video_url == "/api/v1/video/j1"
    assert _delivery().body.created_at == 995.0


def test_events_for_final_states_only() -> None:
    def status(state: JobState, stage: str = "assembler") -> StatusEvent:
        return StatusEvent(job_id="j", state=state, stage=stage, at=1.0)

    assert event_name(status(JobState.COMPLETED)) == "job.completed"
    assert event_name(status(JobState.FAILED, "tts")) == "job.failed"
    assert event_name(status(JobState.COMPLETED, "avatars")) == "avatar.ready"
    assert event_name(status(JobState.FAILED, "avatars")) == "avatar.failed"
    assert event_name(status(JobState.RUNNING)) is None
    assert event_name(status(JobState.CANCELLED)) is None


@pytest.mark.parametrize("secret", ["s", None])
def test_headers_name_the_delivery_and_sign_only_with_a_secret(secret: str | None) -> None:
    delivery = _delivery()
    headers = headers_for(delivery, delivery.body.to_json(), secret, now=1700000000.7)
    assert headers["Avatar-Delivery"] == delivery.delivery_id and headers["Avatar-Event"] == "job.completed"
    assert ("Avatar-Signature" in headers) == (secret is not None)
    if secret:
        assert headers["Avatar-Signature"].startswith("t=1700000000,v1=")


def test_the_book_keeps_the_furthest_record_of_a_delivery() -> None:
    book = DeliveryBook("127.0.0.1:1", "t")
    first = _delivery()
    second = after_attempt(first, _attempt(1000.0), ok=False, settings=SETTINGS, rand=lambda: 0.5)
    book.put(2, second)
    book.put(2, first)  # this worker's own older record, echoed by the topic later
    assert book.get(first.delivery_id) == second
    assert book.pending({2}) == [(2, second)] and book.pending({0, 1}) == []
    done = after_attempt(second, _attempt(1001.0, 200), ok=True, settings=SETTINGS)
    book.put(2, done)
    assert book.pending({2}) == []
