"""Every job's webhook deliveries, folded from the compacted deliveries topic (the newest
record of a delivery wins), for `GET /api/v1/jobs/{job_id}/webhooks`."""

from __future__ import annotations

from collections import OrderedDict

from schemas.webhooks import WebhookDelivery


class WebhookBoard:
    def __init__(self, jobs: int = 100_000) -> None:
        self._jobs = jobs
        self._by_job: OrderedDict[str, dict[str, WebhookDelivery]] = OrderedDict()

    def apply(self, delivery: WebhookDelivery) -> None:
        deliveries = self._by_job.setdefault(delivery.job_id, {})
        kept = deliveries.get(delivery.delivery_id)
        if kept is not None and kept.state != "pending" and delivery.state == "pending":
            return  # a late record of a delivery already finished
        deliveries[delivery.delivery_id] = delivery
        self._by_job.move_to_end(delivery.job_id)
        while len(self._by_job) > self._jobs:
            self._by_job.popitem(last=False)

    def of_job(self, job_id: str) -> list[WebhookDelivery] | None:
        """The job's deliveries, oldest first; None when none was ever made."""
        found = self._by_job.get(job_id)
        return None if found is None else sorted(found.values(), key=lambda d: d.created_at)
