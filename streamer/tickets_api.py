"""POST /api/v1/jobs/{job_id}/ticket: a ticket for the job's stream and a signed video URL.

The request itself carries the key in a header; what it returns may go into URLs, because
it opens only this job and only for a while (streamer/tickets.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from schemas.sessions import SESSION_ID_PREFIX
from schemas.tickets import TicketResponse
from streamer.api import ApiError, gateway, job_id_of, json_response
from streamer.tenants import caller, visible
from streamer.tickets import UrlSigner


async def ticket(request: Request) -> Response:
    """A ticket for `WS /api/v1/stream/{job_id}` (a live session's: its own socket) and a
    signed URL of its video; 404 for a job the key may not see."""
    job_id = job_id_of(request)
    if caller(request).by_url:
        raise ApiError(401, "a ticket is asked for with an API key in a header")
    if visible(request, gateway(request).board.get(job_id)) is None:
        raise ApiError(404, f"unknown job {job_id!r}")
    signer: UrlSigner = request.app.state.signer
    is_session = job_id.startswith(SESSION_ID_PREFIX)
    stream_path = f"/api/v1/sessions/{job_id}/stream" if is_session else f"/api/v1/stream/{job_id}"
    value, expires = signer.ticket(stream_path)
    video = signer.signed_url(f"/api/v1/video/{job_id}")
    return json_response(TicketResponse(job_id=job_id, ticket=value, expires_at=expires,
                                        stream_url=f"{stream_path}?ticket={value}", video_url=video,
                                        video_url_expires_at=int(video.split("expires=")[1].split("&")[0])))


routes: list[BaseRoute] = [Route("/api/v1/jobs/{job_id}/ticket", ticket, methods=["POST"])]
