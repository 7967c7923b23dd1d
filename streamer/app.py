"""The gateway: a Starlette app built from lists, Kafka clients started in its lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from core.store import MediaStore
from streamer import (
    api,
    avatars_api,
    health,
    jobs_api,
    metrics,
    openapi,
    player,
    relay,
    sessions_api,
    speech_api,
    tickets_api,
    usage_api,
    webhooks_api,
)
from streamer.api import ApiError, error
from streamer.auth import GuardMiddleware
from streamer.jobs import JobBoard
from streamer.json_errors import JsonErrorsMiddleware
from streamer.kafka_io import GatewayKafka
from streamer.metrics import GatewayMetrics
from streamer.retention import sweep_forever
from streamer.settings import GatewaySettings
from streamer.stalls import watch_stalls
from streamer.state import GatewayState
from streamer.tickets import UrlSigner
from streamer.workers import WorkerBoard

log = logging.getLogger(__name__)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc.status_code, exc.message, exc.detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    """Logged in full here; the client learns only that it failed (no trace, no settings)."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error(500, "internal server error")


# Every error a client sees is an ErrorBody; ApiError is how handlers ask for one.
EXCEPTION_HANDLERS = {ApiError: _api_error, HTTPException: _http_error, Exception: _server_error}


def create_app(settings: GatewaySettings) -> Starlette:
    if not settings.auth_required:
        log.warning("dev mode: no API keys are checked (set AVATAR_API_KEYS to require them)")
    signer = UrlSigner.create(settings.signing_secret, settings.ticket_ttl_s, settings.signed_url_ttl_s,
                              warn=settings.auth_required)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        board = JobBoard(settings.jobs_in_memory, settings.prices)
        workers = WorkerBoard()
        meters = GatewayMetrics(board, workers)
        kafka = GatewayKafka(settings.kafka, board, workers, first_media=meters.first_media)
        state = GatewayState(settings, board, kafka, MediaStore(settings.data_dir), workers, meters)
        app.state.gateway = state
        try:
            await kafka.start()
            log.info("gateway connected to kafka at %s", settings.kafka.bootstrap_servers)
            state.spawn(watch_stalls(board, workers, settings.stall_s))
            state.spawn(sweep_forever(state))
            yield
        finally:
            await state.stop()
            await kafka.stop()

    # Each API module owns its routes; this list is the whole surface of the gateway.
    routes = [
        *health.routes,
        *metrics.routes,
        *api.routes,
        *avatars_api.routes,
        *jobs_api.routes,
        *relay.routes,
        *sessions_api.routes,
        *speech_api.routes,
        *usage_api.routes,
        *openapi.routes,
        *player.routes,
        *tickets_api.routes,
        *webhooks_api.routes,
    ]
    # Outermost first: errors made by any layer below become JSON; CORS answers preflights
    # before the guard asks for a key.
    middleware = [Middleware(JsonErrorsMiddleware), Middleware(GuardMiddleware, settings=settings, signer=signer)]
    if settings.cors_origins:
        middleware.insert(1, Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                        allow_methods=["GET", "POST", "DELETE"],
                                        allow_headers=["Authorization", "X-API-Key", "Content-Type", "Range",
                                                       "If-None-Match"],
                                        expose_headers=["Content-Range", "Retry-After", "ETag"]))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    lifespan=lifespan)
    app.state.signer = signer  # one per app: the guard checks what the handlers sign
    return app
