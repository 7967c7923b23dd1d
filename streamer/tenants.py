"""Who owns what: each job, avatar and cloned voice belongs to the API key that made it.

A tenant is the sha256 hex digest of its key (streamer/auth.py `key_hash`), so only
digests are ever configured or stored. Dev mode (no keys) is one tenant, `default`, and
sees everything. An admin key (AVATAR_ADMIN_KEYS) sees and manages every tenant.

The guard (streamer/auth.py) decides who is calling and leaves a `Caller` in the request
scope; every handler that looks something up asks `caller(request).sees(owner)` and
answers 404 when not, exactly as for something that does not exist, so one tenant cannot
even learn that another's job id is in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.types import Scope

from schemas.base import DEFAULT_TENANT

V = TypeVar("V", bound=Any)
SCOPE_KEY = "avatar_stream.caller"


@dataclass(frozen=True)
class Caller:
    tenant: str
    is_admin: bool = False
    # Set for a ticket or signed URL: the URL itself names the one thing it may read.
    by_url: bool = False

    def sees(self, owner: str | None) -> bool:
        """Whether this caller may read or manage something owned by `owner` (None: shared)."""
        return owner is None or self.is_admin or self.by_url or owner == self.tenant


DEV_CALLER = Caller(DEFAULT_TENANT, is_admin=True)
# What a request that the guard did not mark gets (a public path): the least there is.
NOBODY = Caller("", is_admin=False)


def set_caller(scope: Scope, caller: Caller) -> None:
    scope[SCOPE_KEY] = caller


def caller_of(scope: Scope) -> Caller:
    """The caller the guard found for this request (an HTTP request or a WebSocket); without
    the guard (routes mounted alone), the dev caller in dev mode and nobody otherwise."""
    found = scope.get(SCOPE_KEY)
    if isinstance(found, Caller):
        return found
    gateway = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
    settings = getattr(gateway, "settings", None)
    return DEV_CALLER if settings is not None and not settings.auth_required else NOBODY


def caller(request: object) -> Caller:
    """`caller_of` for a Starlette Request or WebSocket."""
    return caller_of(request.scope)  # type: ignore[attr-defined]


def for_key(digest: str, admin_hashes: frozenset[str]) -> Caller:
    return Caller(digest, is_admin=digest in admin_hashes)


def visible(request: object, view: V | None) -> V | None:
    """`view` (a job board's JobView) when the caller may see its job, else None: what an
    endpoint looking up a job by id calls before answering 404 for None."""
    if view is None or not caller(request).sees(view.status.tenant):  # type: ignore[attr-defined]
        return None
    return view
