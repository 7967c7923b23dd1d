"""Tickets and signed URLs: short-lived credentials that name one path, so no key is put in a URL.

A browser cannot set headers on a WebSocket or on a plain `<a href>` download, and a key in a
query string ends up in access logs, proxies and browser history. Instead a client holding
a key asks `POST /api/v1/jobs/{id}/ticket` and gets

* a ticket for the job's stream (`?ticket=` or `Sec-WebSocket-Protocol: ticket.<ticket>`),
  valid AVATAR_TICKET_TTL_S (60 s): long enough to open the socket, too short to be worth
  stealing from a log;
* signed download URLs (`?expires=&signature=`), valid AVATAR_SIGNED_URL_TTL_S (1 h).

Both are an expiry and an HMAC-SHA256 (AVATAR_SIGNING_SECRET) over the purpose, the exact
path and that expiry, so a ticket for job A does not open job B, nor a stream ticket a
download. Nothing is stored: any gateway with the same secret checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import Scope

log = logging.getLogger(__name__)

STREAM, DOWNLOAD = "stream", "download"
# Sec-WebSocket-Protocol values are tokens: the ticket travels as `ticket.<ticket>`.
WS_PROTOCOL_PREFIX = "ticket."


class BadCredential(Exception):
    """The reason a ticket or signature is refused (401)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class UrlSigner:
    secret: bytes
    ticket_ttl_s: float = 60.0
    url_ttl_s: float = 3600.0

    @classmethod
    def create(cls, secret: str | None, ticket_ttl_s: float, url_ttl_s: float, warn: bool = True) -> UrlSigner:
        if secret is None:
            if warn:
                log.warning("AVATAR_SIGNING_SECRET is not set: tickets and signed URLs are signed with a "
                            "random secret of this process; they do not survive a restart and other "
                            "gateways do not accept them")
            return cls(secrets.token_bytes(32), ticket_ttl_s, url_ttl_s)
        return cls(hashlib.sha256(secret.encode()).digest(), ticket_ttl_s, url_ttl_s)

    def _mac(self, purpose: str, path: str, expires: int) -> str:
        message = f"{purpose}\n{path}\n{expires}".encode()
        return _b64(hmac.new(self.secret, message, hashlib.sha256).digest())

    def ticket(self, path: str, now: float | None = None) -> tuple[str, int]:
        """(ticket, unix seconds it expires) for a WebSocket on `path`."""
        expires = int((time.time() if now is None else now) + self.ticket_ttl_s)
        return f"{expires}.{self._mac(STREAM, path, expires)}", expires

    def signed_url(self, path: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.url_ttl_s)
        return f"{path}?expires={expires}&signature={self._mac(DOWNLOAD, path, expires)}"

    def check_ticket(self, path: str, ticket: str, now: float | None = None) -> None:
        """Raises BadCredential unless `ticket` was made for `path` and has not expired."""
        raw_expires, _, mac = ticket.partition(".")
        self._check(STREAM, path, raw_expires, mac, "ticket", now)

    def check_signature(self, path: str, expires: str, signature: str, now: float | None = None) -> None:
        self._check(DOWNLOAD, path, expires, signature, "signed URL", now)

    def _check(self, purpose: str, path: str, raw_expires: str, mac: str, what: str, now: float | None) -> None:
        if not raw_expires.isdigit() or len(raw_expires) > 12 or not mac:
            raise BadCredential(f"malformed {what}")
        expires = int(raw_expires)
        if not hmac.compare_digest(mac, self._mac(purpose, path, expires)):
            raise BadCredential(f"invalid {what} (it names another job, or another gateway signed it)")
        if expires < (time.time() if now is None else now):
            raise BadCredential(f"the {what} has expired")


def ticket_protocol(scope: Scope) -> str | None:
    """The `ticket.<ticket>` subprotocol a WebSocket offers: the server must echo it when it
    accepts (to stream, or to say why not), or the browser drops the socket with no reason."""
    offered = Headers(scope=scope).get("sec-websocket-protocol", "")
    return next((p.strip() for p in offered.split(",") if p.strip().startswith(WS_PROTOCOL_PREFIX)), None)


def _protocol_ticket(scope: Scope) -> str | None:
    protocol = ticket_protocol(scope)
    return None if protocol is None else protocol[len(WS_PROTOCOL_PREFIX):]


def url_credential(signer: UrlSigner, scope: Scope) -> bool:
    """Whether the request carries a ticket (WebSocket) or signature (download) valid for its
    own path; False when it carries neither. Raises BadCredential for one that is not valid."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        ticket = query["ticket"][0] if query.get("ticket") else _protocol_ticket(scope)
        if ticket is None:
            return False
        signer.check_ticket(path, ticket)
        return True
    if "signature" not in query and "expires" not in query:
        return False
    if scope.get("method") not in ("GET", "HEAD"):
        raise BadCredential("a signed URL is for downloads (GET) only")
    signer.check_signature(path, query.get("expires", [""])[0], query.get("signature", [""])[0])
    return True


def signer_for(app: Any) -> UrlSigner | None:
    """The app's signer while keys are checked; None in dev mode, where plain URLs work."""
    signer = getattr(app.state, "signer", None)
    return signer if app.state.gateway.settings.auth_required else None
