"""GET /api/v1/usage: usage and estimated cost per key and UTC day (streamer/usage.py)."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from streamer.api import ApiError, json_response
from streamer.tenants import caller
from streamer.usage import report

MAX_DAYS = 366


def _day_param(request: Request, name: str, default: dt.date) -> dt.date:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a date as YYYY-MM-DD, not {raw[:40]!r}") from None


async def usage(request: Request) -> Response:
    """Usage and estimated cost per key and UTC day of job creation, `from`..`to` inclusive
    (default: the last 30 days): the caller's own jobs; an admin key's, every tenant's, or
    one tenant's with `tenant`."""
    state = request.app.state.gateway
    today = dt.datetime.now(dt.UTC).date()
    last = _day_param(request, "to", today)
    first = _day_param(request, "from", last - dt.timedelta(days=29))
    if first > last:
        raise ApiError(422, "from must not be after to")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, f"at most {MAX_DAYS} days at once")
    who = caller(request)
    wanted = request.query_params.get("tenant")
    if wanted is not None and not who.is_admin:
        raise ApiError(403, "only an admin key may ask for another tenant's usage")
    jobs = ((tenant, created_at, tally) for tenant, created_at, tally in state.board.usage.rows()
            if who.sees(tenant) and (wanted is None or tenant == wanted))
    return json_response(report(jobs, first, last, state.settings.prices))


routes: list[BaseRoute] = [Route("/api/v1/usage", usage, methods=["GET"])]
