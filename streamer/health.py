"""GET /health: the broker, the live workers per stage and their consumer lag."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from streamer.api import gateway, json_response
from streamer.disk import low_space
from streamer.workers import health_of


async def health(request: Request) -> Response:
    """200 while the broker answers (`degraded`: a stage has no live worker, or the media
    volume is nearly full), else 503."""
    state = gateway(request)
    broker = await state.kafka.broker_ok()
    body = health_of(broker, state.workers, state.settings.expected_stages, low_space(state))
    return json_response(body, 200 if broker else 503)


routes: list[BaseRoute] = [Route("/health", health)]
