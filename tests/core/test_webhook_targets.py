"""The SSRF guard: only http(s) to public addresses, unless allow-listed."""

from __future__ import annotations

import ipaddress

import pytest

from core.webhook_targets import (
    AllowList,
    WebhookTargetError,
    check_addresses,
    check_target,
    host_of,
    public,
)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a", "example.com/hook",
                                 "http:///nohost", "http://user:pw@example.com/", "http://example.com:99999/",
                                 "http://exa mple.com/"])
def test_urls_that_are_not_http_targets_are_refused(url: str) -> None:
    with pytest.raises(WebhookTargetError):
        host_of(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "0.0.0.0", "224.0.0.1", "100.64.0.1", "::1", "fe80::1", "fc00::1",
                                     "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "240.0.0.1"])
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are(address: str) -> None:
    assert public(ipaddress.ip_address(address))


def test_every_resolved_address_is_checked() -> None:
    """A name with one public and one private address is refused: either could be dialled."""
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]
    with pytest.raises(WebhookTargetError, match="10.0.0.5"):
        check_addresses("mixed.example", addresses, AllowList())
    check_addresses("mixed.example", addresses[:1], AllowList())


def test_allow_list_takes_hosts_and_cidrs() -> None:
    allow = AllowList.parse(" receiver.internal , 10.0.0.0/8,127.0.0.1 ")
    check_addresses("receiver.internal", [ipaddress.ip_address("192.168.0.9")], allow)
    check_addresses("other", [ipaddress.ip_address("10.9.9.9"), ipaddress.ip_address("127.0.0.1")], allow)
    with pytest.raises(WebhookTargetError):
        check_addresses("other", [ipaddress.ip_address("192.168.0.9")], allow)
    with pytest.raises(ValueError, match="CIDR"):
        AllowList.parse("10.0.0.0/99")


async def test_check_target_resolves_names() -> None:
    with pytest.raises(WebhookTargetError, match="127.0.0.1|::1"):
        await check_target("http://localhost:9/hook", AllowList())
    await check_target("http://localhost:9/hook", AllowList.parse("127.0.0.0/8,::1"))
    await check_target("http://127.0.0.1:9/hook", AllowList.parse("127.0.0.1"))
    with pytest.raises(WebhookTargetError, match="private, loopback"):
        await check_target("https://[::1]/hook", AllowList())
    with pytest.raises(WebhookTargetError, match="does not resolve"):
        await check_target("http://no-such-host.invalid/hook", AllowList())
