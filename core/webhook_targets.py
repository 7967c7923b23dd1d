"""Where a webhook may go: http(s) only, and never to a private, loopback, link-local,
multicast or otherwise reserved address unless allow-listed (AVATAR_WEBHOOK_ALLOW_HOSTS).

The host is resolved and every address checked: a name that resolves to 10.0.0.5 is as
internal as the address itself. The gateway checks when it takes a request; the sender
checks again before every attempt, as DNS may answer differently by then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookTargetError(ValueError):
    """The URL may not be a webhook target; the message says why (fit for a 422)."""


@dataclass(frozen=True)
class AllowList:
    """Host names (exact, case-insensitive) and networks exempt from the address check."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """A comma list of host names, addresses and CIDRs; raises ValueError on a bad CIDR."""
        hosts: set[str] = set()
        networks: list[IpNetwork] = []
        for item in (i.strip() for i in raw.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if "/" in item:
                    raise ValueError(f"AVATAR_WEBHOOK_ALLOW_HOSTS: {item!r} is not a CIDR") from None
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IpAddress) -> bool:
        return any(address in network for network in self.networks)


def host_of(url: str) -> str:
    """The URL's host, checked for scheme and form; raises WebhookTargetError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port off the range
    except ValueError as exc:
        raise WebhookTargetError(f"webhook_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookTargetError("webhook_url must be an http or https URL")
    if not parts.hostname:
        raise WebhookTargetError("webhook_url has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetError("webhook_url must not carry credentials (user:password@)")
    if any(ch.isspace() for ch in url):
        raise WebhookTargetError("webhook_url must not contain whitespace")
    return parts.hostname


def public(address: IpAddress) -> bool:
    """Whether the address is one on the public internet (an IPv4-mapped one judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified
                or not address.is_global)


def check_addresses(host: str, addresses: Iterable[IpAddress], allow: AllowList) -> None:
    """Raises WebhookTargetError unless every address is public or allow-listed."""
    addresses = list(addresses)
    if not addresses:
        raise WebhookTargetError(f"webhook_url host {host!r} has no address")
    if allow.allows_host(host):
        return
    for address in addresses:
        if not public(address) and not allow.allows_address(address):
            raise WebhookTargetError(
                f"webhook_url host {host!r} resolves to {address}, a private, loopback, "
                "link-local or reserved address (allow it with AVATAR_WEBHOOK_ALLOW_HOSTS)")


async def resolve(host: str) -> list[IpAddress]:
    """Every address the host names (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookTargetError(f"webhook_url host {host!r} does not resolve ({exc.strerror or exc})") from None
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))


async def check_target(url: str, allow: AllowList) -> None:
    """Raises WebhookTargetError when `url` may not receive webhooks now."""
    host = host_of(url)
    if allow.allows_host(host):
        return
    check_addresses(host, await resolve(host), allow)
