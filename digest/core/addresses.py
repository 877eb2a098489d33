"""Which network addresses a link written by someone else may lead to.

A feed the user adds may live anywhere, an intranet host included: the user chose it. A link written by
a feed's or a page's author (a redirect, an autodiscovery link, an article or image URL) is another
matter: followed blindly, a public feed could make digest request http://169.254.169.254/ or a router's
admin page on the user's network (a blind SSRF). So a fetch that started on a public address may only go
on to public addresses. The check is made on the address actually connected to, after DNS (a name that
resolves to 10.0.0.1 is as private as the literal), for every hop (digest.core.fetch calls
`address_refusal` from libcurl's pre-request callback, which also sees reused connections).
"""

from __future__ import annotations

import functools
import ipaddress

# Test-only: addresses to treat as public. Tests serve their "public" feeds on 127.0.0.1 (the only
# network they have) and their "private" targets on another loopback address such as 127.0.0.2, and
# add "127.0.0.1" here with monkeypatch for the test's duration. Nothing in digest sets it; it is not a
# config setting or an environment variable, so a user cannot switch the check off by accident.
TREAT_AS_PUBLIC: set[str] = set()


def address_refusal(ip: str) -> str | None:
    """None when `ip` (the text form, IPv4 or IPv6, as libcurl reports it) is a public address; else
    what it is, for an error line: "a loopback address (127.0.0.2)". Anything that does not parse is
    refused."""
    if ip in TREAT_AS_PUBLIC:
        return None
    inner, why = _classify(ip)
    if inner is not None and inner in TREAT_AS_PUBLIC:
        return None
    return why


@functools.lru_cache(maxsize=256)
def _classify(ip: str) -> tuple[str | None, str | None]:
    """The IPv4 address inside an IPv6 one (text, or None) and address_refusal's answer, TREAT_AS_PUBLIC
    aside. Cached: every request of a refresh asks, mostly about a few addresses, and reading one with
    ipaddress took ~10 us, a tenth of an all-304 refresh's CPU per feed."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # fe80::1%eth0: the zone is not part of it
    except ValueError:
        return None, f"an address that cannot be checked ({ip!r})"
    inner_text = None
    if isinstance(addr, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 2002:0a00:0001:: (6to4) reach the IPv4 address inside them
        inner = addr.ipv4_mapped or addr.sixtofour
        if inner is not None:
            inner_text = str(inner)
            addr = inner
    for test, what in ((addr.is_loopback, "a loopback"), (addr.is_link_local, "a link-local"),
                       (addr.is_unspecified, "an unspecified"), (addr.is_multicast, "a multicast"),
                       (addr.is_private, "a private"), (addr.is_reserved, "a reserved")):
        if test:
            return inner_text, f"{what} address ({ip})"
    if not addr.is_global:  # 100.64.0.0/10 (carrier NAT), 192.0.0.0/24 and the other special ranges
        return inner_text, f"a non-public address ({ip})"
    return inner_text, None


def is_public_address(ip: str) -> bool:
    return address_refusal(ip) is None
