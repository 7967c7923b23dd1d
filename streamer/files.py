"""Downloads (final videos, thumbnails): Starlette's FileResponse for Range, plus revalidation.

FileResponse sends an ETag but does not answer `If-None-Match` itself (only StaticFiles
does), so a player or CDN revalidating a video it already has would fetch it whole again.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

_REVALIDATION_HEADERS = ("etag", "last-modified", "accept-ranges")


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: `*`, or any listed tag equal to ours by the weak comparison."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in if_none_match.split(","))


async def file_response(request: Request, path: Path, media_type: str, filename: str | None = None) -> Response:
    """200 or 206 with the file, or 304 when the client's copy is current."""
    stat = await asyncio.to_thread(os.stat, path)
    response = FileResponse(path, media_type=media_type, filename=filename, stat_result=stat)
    if etag_matches(request.headers.get("if-none-match"), response.headers["etag"]):
        return Response(status_code=304, headers={k: response.headers[k] for k in _REVALIDATION_HEADERS})
    return response
