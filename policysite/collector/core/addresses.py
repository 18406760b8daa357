"""Client addresses: who sent a request, and the only form of it that is ever stored.

The raw IP never leaves memory: the store gets the /24 (IPv4) or /48 (IPv6) network, or, when
an HMAC key is configured, a keyed hash of the address. X-Forwarded-For is believed only when
the TCP peer is a trusted proxy, with uvicorn's --forwarded-allow-ips semantics.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from functools import lru_cache

from policysite.errors import PolicyError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress | None:
    """Given an address as text, return it (IPv4-mapped IPv6 unwrapped), or None."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=65536)
def reduce_ip(text: str) -> str | None:
    """Given an address, return its /24 or /48 network ("203.0.113.0/24"), or None."""
    address = parse_ip(text)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class TrustedProxies:
    """The peers whose X-Forwarded-For we believe: addresses, networks, or "*" for any."""

    def __init__(self, spec: Sequence[str]) -> None:
        self.any = "*" in spec
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in spec:
            if item == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise PolicyError(
                    f"--forwarded-allow-ips: {item!r} is not an IP address or network "
                    "(expected e.g. 127.0.0.1,10.0.0.0/8 or *)"
                ) from None

    def __contains__(self, text: str) -> bool:
        if self.any:
            return True
        address = parse_ip(text)
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client's address: the peer, or the nearest untrusted X-Forwarded-For hop."""
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or peer not in self:
            return peer
        hops = [hop.strip() for hop in forwarded.split(",")]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0]


class AddressPrivacy:
    """Turns a client address into what the store keeps."""

    def __init__(self, hmac_key: bytes | None = None) -> None:
        self._key = hmac_key

    def stored_form(self, client: str) -> str | None:
        if self._key is None:
            return reduce_ip(client)
        address = parse_ip(client)
        if address is None:
            return None
        digest = hmac.new(self._key, address.packed, hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"
