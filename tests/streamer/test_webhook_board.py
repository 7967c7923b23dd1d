"""The gateway's fold of the deliveries topic: newest record per delivery, per job."""

from __future__ import annotations

from schemas.webhooks import WebhookAttempt, WebhookDelivery, WebhookEvent
from streamer.webhook_board import WebhookBoard


def _delivery(job_id: str, event: str, state: str, attempts: int, created_at: float = 1.0) -> WebhookDelivery:
    body = WebhookEvent(event=event, delivery_id=f"{job_id}-{event}", job_id=job_id, state="completed",
                        finished_at=1.0)
    return WebhookDelivery(delivery_id=f"{job_id}-{event}", job_id=job_id, event=event, url="http://h/",
                           state=state, created_at=created_at,
                           attempts=[WebhookAttempt(at=float(i), status_code=500) for i in range(attempts)],
                           body=body)


def test_newest_record_wins_and_a_late_pending_one_does_not_undo_a_finished_one() -> None:
    board = WebhookBoard()
    board.apply(_delivery("j", "job.completed", "pending", 1))
    board.apply(_delivery("j", "job.completed", "delivered", 2))
    board.apply(_delivery("j", "job.completed", "pending", 1))  # an older record read late
    (only,) = board.of_job("j") or []
    assert only.state == "delivered" and len(only.attempts) == 2
    assert board.of_job("other") is None


def test_deliveries_are_listed_oldest_first_and_old_jobs_forgotten() -> None:
    board = WebhookBoard(jobs=2)
    board.apply(_delivery("a", "job.failed", "pending", 0, created_at=5.0))
    board.apply(_delivery("a", "job.completed", "pending", 0, created_at=3.0))
    assert [d.event for d in board.of_job("a") or []] == ["job.completed", "job.failed"]
    board.apply(_delivery("b", "job.completed", "pending", 0))
    board.apply(_delivery("c", "job.completed", "pending", 0))
    assert board.of_job("a") is None and board.of_job("c") is not None
