"""Client addresses: who sent a request, and the only form of it that is ever stored.

The raw IP never leaves memory: the store gets the /24 (IPv4) or /48 (IPv6) network, or, when
an HMAC key is configured, a keyed hash of the address. X-Forwarded-For is believed only when
the TCP peer is a trusted proxy (--forwarded-allow-ips), and then only its right-most hop that
is not a trusted proxy: every hop left of it was written by someone we do not trust. A hop we
must read and cannot parse is the client's mistake (400), never a bucket or a NULL of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from functools import lru_cache

from policysite.errors import PolicyError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = ("127.0.0.1", "::1")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class BadForwardedFor(ValueError):
    """A trusted proxy passed an X-Forwarded-For hop that is not an IP address."""


def default_trusted_proxies(host: str) -> tuple[str, ...]:
    """Whom to believe when nobody said: loopback proxies for a collector listening on
    loopback (nginx on the same host), nobody for one listening on a public address."""
    address = parse_ip(host)
    loopback = host in _LOOPBACK_HOSTS or (address is not None and address.is_loopback)
    return LOOPBACK if loopback else ()


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


def parse_hop(text: str) -> IPAddress | None:
    """An X-Forwarded-For hop: an address, also "[IPv6]", "[IPv6]:port" or "IPv4:port"."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return parse_ip(text)


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
        return address is not None and self.trusts(address)

    def trusts(self, address: IPAddress) -> bool:
        return self.any or any(address in net for net in self.networks)

    def client(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client's address: the peer, or the right-most untrusted X-Forwarded-For hop.

        Raise BadForwardedFor when a hop that has to be read is not an address.
        """
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or peer not in self:
            return peer
        hops = [hop for hop in forwarded.split(",") if hop.strip()]  # empty list items: none
        address = None
        for hop in reversed(hops):
            address = parse_hop(hop)
            if address is None:
                shown = hop.strip()[:64].encode("ascii", "backslashreplace").decode("ascii")
                raise BadForwardedFor(
                    f"X-Forwarded-For hop {shown!r} is not an IP address; "
                    "the proxy must send a comma-separated list of addresses"
                )
            if not self.trusts(address):
                return str(address)
        return str(address) if address is not None else peer  # every hop is a proxy


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
