"""Jobs as a collection: list (paged, filtered by state), cancel-and-delete, batch submit."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.http import BatchRequest, BatchResponse, JobList
from schemas.status import JobState, StatusEvent
from streamer.api import (
    MAX_OFFSET,
    ApiError,
    accept,
    check_request,
    gateway,
    int_param,
    job_id_of,
    json_response,
    read_model,
    require_space,
    with_urls,
    with_webhook,
)
from streamer.jobs import DELETE_STAGE
from streamer.state import GatewayState
from streamer.tenants import caller, visible
from streamer.tickets import signer_for

MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE, MAX_PAGE = 50, 500
# Records already inside a stage when the cancel lands may still write a file; sweep once more.
SWEEP_AFTER_S = 5.0


async def list_jobs(request: Request) -> Response:
    """Jobs newest first; `state` filters (comma-separated), `limit` and `offset` page."""
    states: set[JobState] | None = None
    if raw := request.query_params.get("state"):
        try:
            states = {JobState(s.strip()) for s in raw.split(",") if s.strip()}
        except ValueError:
            raise ApiError(400, f"state must be among {', '.join(s.value for s in JobState)}") from None
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    page, total = gateway(request).board.page(states, offset, limit, caller(request).sees)
    next_offset = offset + limit if offset + limit < total else None
    signer = signer_for(request.app)
    jobs = [with_urls(s, signer) for s in page]
    return json_response(JobList(jobs=jobs, total=total, offset=offset, limit=limit, next_offset=next_offset))


async def _sweep(state: GatewayState, job_id: str) -> None:
    await asyncio.sleep(SWEEP_AFTER_S)
    await asyncio.to_thread(state.store.delete_job, job_id)


async def delete_job(request: Request) -> Response:
    """Cancels the job if it is still running (every stage skips it from then on), deletes its files."""
    state = gateway(request)
    job_id = job_id_of(request)
    view = visible(request, state.board.get(job_id))
    if view is None:
        raise ApiError(404, f"unknown job {job_id!r}")
    was = view.status
    final = was.state if was.state.final else JobState.CANCELLED
    event = StatusEvent(job_id=job_id, state=final, stage=DELETE_STAGE, at=time.time(),
                        message="deleted by client", avatar_id=was.avatar_id, voice_id=was.voice_id,
                        created_at=was.created_at, tenant=was.tenant)
    await state.kafka.send_status(event)
    state.board.apply_status(event)
    await asyncio.to_thread(state.store.delete_job, job_id)
    state.spawn(_sweep(state, job_id))
    return json_response(view.status)


async def batch(request: Request) -> Response:
    """Many scripts at once: all are checked first, so a bad one creates no job at all."""
    state = gateway(request)
    payload = await read_model(request, BatchRequest, MAX_BATCH_BODY_BYTES)
    require_space(state)
    who = caller(request)
    for index, script in enumerate(payload.scripts):
        try:
            check_request(state, script, who)
        except ApiError as exc:
            message = f"scripts[{index}]: {exc.message}"
            raise ApiError(exc.status_code, message, {"index": index}) from None
    scripts = [await with_webhook(request, script, f"scripts[{index}].webhook_url")
               for index, script in enumerate(payload.scripts)]
    jobs = [await accept(state, script, who.tenant, priority="batch") for script in scripts]
    return json_response(BatchResponse(jobs=jobs), 202)


routes: list[BaseRoute] = [
    Route("/api/v1/jobs", list_jobs),
    Route("/api/v1/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/api/v1/batch", batch, methods=["POST"]),
]
