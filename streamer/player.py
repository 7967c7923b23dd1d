"""The browser player page at `/` and its static assets (no external assets: it works offline)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


async def index(request: Request) -> Response:
    """The player: pick an avatar and voice, type a script, watch it play as it is made."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


async def docs(request: Request) -> Response:
    """The API reference, rendered in the browser from /openapi.json."""
    return FileResponse(STATIC_DIR / "docs.html", media_type="text/html")


routes: list[BaseRoute] = [
    Route("/", index, include_in_schema=False),
    Route("/docs", docs, include_in_schema=False),
    Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
]
