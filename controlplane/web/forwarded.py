"""Behind reverse proxies: which address a request really comes from.

``listen.trusted_proxies: N`` says N proxies stand in front of the console
(the usual case: one nginx on the same machine). Their ``X-Forwarded-For``
is then believed, but only on a connection from one of the proxies' own
addresses (``listen.trusted_proxy_addresses``, loopback by default): a
client that reaches the console directly cannot make itself loopback or
anyone else by sending the header. Of the header's hops the N-th from the
right is the client (each proxy appends the address it was connected from,
so only the last N entries were written by proxies; anything to their left
is whatever the client sent).

This middleware runs inside the app, so it works the same under every
server ``egov serve`` runs: waitress (which must then pass the headers
through instead of clearing them: see :func:`controlplane.web.server.make_waitress`)
and werkzeug's TLS server. Headers that are not believed are removed, so
nothing later in the app can read them by mistake.

A proxy's request that names fewer than N hops (a proxy that does not add
the header) or a hop that is not an address gets the client address
``unknown``: never loopback (which would open ``/metrics`` to the world),
and all such requests share one login throttle, which is what a
misconfigured proxy earns.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

UNKNOWN_CLIENT = "unknown"
LOOPBACK_PROXIES = ("127.0.0.1", "::1")
FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_FORWARDED_BY",
)
MAX_HOP_CHARS = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it (``198.51.100.7``, ``2001:db8::1``, ``[2001:db8::1]``), or None.

    An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, what a dual-stack
    socket reports) is returned as the IPv4 address it maps.
    """
    text = text.strip()
    if not text or len(text) > MAX_HOP_CHARS:
        return None
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def proxy_networks(addresses: Iterable[str]) -> tuple[Network, ...]:
    """The networks of ``listen.trusted_proxy_addresses`` (addresses or CIDR blocks). Raises ValueError for junk."""
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in addresses)


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the forwarded client when (and only when) a trusted proxy says so.

    ``hops`` is how many proxies stand in front (0: none, every forwarded
    header is removed); ``proxies`` are their own addresses, so a client
    that forges the headers is not believed. Scheme and
    host (``X-Forwarded-Proto``/``-Host``) are believed under the same
    condition, through werkzeug's ProxyFix. Costs a header split per request.
    """

    def __init__(self, app: WSGIApplication, hops: int, proxies: Iterable[str] = LOOPBACK_PROXIES) -> None:
        self.app = app
        self.hops = hops
        self.networks = proxy_networks(proxies)
        self.with_proxy = ProxyFix(app, x_for=0, x_proto=hops, x_host=hops) if hops else app

    def from_proxy(self, peer: str | None) -> bool:
        """True when the connection's own address is one of the trusted proxies'."""
        address = parse_address(peer or "")
        return address is not None and any(address in network for network in self.networks)

    def client_of(self, forwarded_for: str) -> str:
        """The client a trusted proxy's X-Forwarded-For names (the N-th hop from the right), else ``unknown``."""
        hops = forwarded_for.split(",") if forwarded_for.strip() else []
        if len(hops) < self.hops:
            return UNKNOWN_CLIENT
        address = parse_address(hops[-self.hops])
        return str(address) if address is not None else UNKNOWN_CLIENT

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR")
        if not self.hops or not self.from_proxy(peer):
            for header in FORWARDED_HEADERS:
                environ.pop(header, None)
            return self.app(environ, start_response)
        environ["egov.proxy_addr"] = peer
        environ["REMOTE_ADDR"] = self.client_of(environ.get("HTTP_X_FORWARDED_FOR", ""))
        return self.with_proxy(environ, start_response)
