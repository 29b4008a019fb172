"""Who a request came from when a balancer sits in between (deploy/Caddyfile): the limits per
client address and the presenter's key guard must count phones, not the balancer.

`MNIST_TRUSTED_PROXIES` lists the proxies (IPs or CIDRs, comma-separated); unset, nobody is
trusted and the connecting peer is the client. From a trusted peer, the client is the rightmost
address in `X-Forwarded-For` that is not itself a trusted proxy: each proxy appends the address it
saw, so everything left of that was written by the client and may be forged.

uvicorn (Streamlit's server) has such a rule of its own, trusting 127.0.0.1 unless
`FORWARDED_ALLOW_IPS` says otherwise: set it to the same list (`make talk` and deploy/local_hall.py
do), so that both agree."""

from __future__ import annotations

import functools
import ipaddress
import os

TRUSTED_PROXIES_ENV = "MNIST_TRUSTED_PROXIES"
UNKNOWN = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)  # read per request, parsed once per value of the setting
def parse_trusted(setting: str) -> tuple[Network, ...]:
    """`MNIST_TRUSTED_PROXIES`'s networks ("10.0.0.2, 10.1.0.0/16"); ValueError names a bad entry."""
    networks = []
    for entry in setting.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{TRUSTED_PROXIES_ENV}: {entry!r} is not an IP address or network "
                             "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def trusted_proxies() -> tuple[Network, ...]:
    return parse_trusted(os.environ.get(TRUSTED_PROXIES_ENV, ""))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, IPv4 with a port, or [IPv6] with or without one."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(ip, networks: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: list[str],
                   networks: tuple[Network, ...] | None = None) -> str:
    """The client's address: `peer` (who connected) unless it is a trusted proxy; then the
    rightmost untrusted address in the `X-Forwarded-For` values (in the order received). A
    value that is not an address ends the walk at the last trusted hop: a broken chain gets the
    proxy's shared limits, never a name a client made up."""
    networks = trusted_proxies() if networks is None else networks
    if not peer:
        return UNKNOWN
    nearest = _ip(peer)
    if not _is_trusted(nearest, networks):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return str(nearest)
        if not _is_trusted(ip, networks):
            return str(ip)
        nearest = ip
    return str(nearest)  # every hop trusted: the furthest one we know of
