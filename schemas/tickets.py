"""The body of POST /api/v1/jobs/{id}/ticket (streamer/tickets.py)."""

from __future__ import annotations

from pydantic import Field

from schemas.base import Message


class TicketResponse(Message):
    job_id: str
    ticket: str = Field(description="opens this job's stream only: `?ticket=` or "
                                    "`Sec-WebSocket-Protocol: ticket.<ticket>`")
    expires_at: int = Field(description="unix seconds the ticket stops opening a stream")
    stream_url: str = Field(description="the stream's path with the ticket")
    video_url: str = Field(description="the final MP4's path, signed (no key needed) until it expires")
    video_url_expires_at: int
