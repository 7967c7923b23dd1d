"""`GET /api/v1/jobs/{job_id}/webhooks`: a job's webhook deliveries with every attempt, as
the gateway reads them from the deliveries topic (streamer/webhook_board.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.webhooks import WebhookDeliveryList
from streamer.api import ApiError, gateway, job_id_of, json_response
from streamer.tenants import visible


async def job_webhooks(request: Request) -> Response:
    """The job's webhook deliveries, each with its attempts: status code or error, and when
    the next try is due. Another tenant's job is unknown here too (404)."""
    job_id = job_id_of(request)
    state = gateway(request)
    if visible(request, state.board.get(job_id)) is None:
        raise ApiError(404, f"unknown job {job_id!r}")
    deliveries = state.kafka.webhooks.of_job(job_id)
    return json_response(WebhookDeliveryList(job_id=job_id, deliveries=deliveries or []))


routes: list[BaseRoute] = [
    Route("/api/v1/jobs/{job_id}/webhooks", job_webhooks),
]
