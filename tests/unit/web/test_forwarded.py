"""Whose X-Forwarded-For is believed: the trusted proxies' only, the N-th hop from the right, addresses only."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.web.forwarded import UNKNOWN_CLIENT, TrustedProxies, parse_address


def _seen(middleware_hops: int, peer: str, headers: dict[str, str], proxies: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run one request through the middleware; return the environ the app saw."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_HOST": "console", "SERVER_NAME": "console"}
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    middleware = TrustedProxies(app, middleware_hops, proxies or ("127.0.0.1", "::1"))
    middleware(environ, lambda *_args: None)
    return seen


def test_the_client_is_the_hop_the_outermost_trusted_proxy_wrote() -> None:
    seen = _seen(2, "127.0.0.1", {"X-Forwarded-For": "127.0.0.1, 198.51.100.7, 10.0.0.5"})
    assert seen["REMOTE_ADDR"] == "198.51.100.7"  # what the client itself wrote (127.0.0.1) is ignored
    assert seen["egov.proxy_addr"] == "127.0.0.1"


def test_scheme_and_host_are_believed_from_a_trusted_proxy() -> None:
    seen = _seen(1, "::1", {"X-Forwarded-For": "2001:db8::7", "X-Forwarded-Proto": "https"})
    assert seen["REMOTE_ADDR"] == "2001:db8::7"
    assert seen["wsgi.url_scheme"] == "https"


def test_a_connection_from_elsewhere_has_every_forwarded_header_removed() -> None:
    headers = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https", "Forwarded": "for=127.0.0.1"}
    seen = _seen(1, "192.0.2.30", headers)
    assert seen["REMOTE_ADDR"] == "192.0.2.30"
    assert not [name for name in seen if "FORWARDED" in name]
    assert seen["wsgi.url_scheme"] == "http"


def test_without_trusted_proxies_even_loopback_forwarded_headers_are_removed() -> None:
    seen = _seen(0, "127.0.0.1", {"X-Forwarded-For": "198.51.100.7"})
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and "HTTP_X_FORWARDED_FOR" not in seen


def test_a_proxy_that_names_no_client_makes_it_unknown_never_loopback() -> None:
    assert _seen(1, "127.0.0.1", {})["REMOTE_ADDR"] == UNKNOWN_CLIENT
    assert _seen(2, "127.0.0.1", {"X-Forwarded-For": "198.51.100.7"})["REMOTE_ADDR"] == UNKNOWN_CLIENT


@pytest.mark.parametrize("hostile", ["; rm -rf /", "$(reboot)", "../../etc", "a\nb", "x" * 300, "", "unknown"])
def test_a_hop_that_is_not_an_address_makes_the_client_unknown(hostile: str) -> None:
    assert _seen(1, "127.0.0.1", {"X-Forwarded-For": hostile})["REMOTE_ADDR"] == UNKNOWN_CLIENT


def test_proxies_are_matched_by_network_and_mapped_addresses_by_their_ipv4() -> None:
    assert _seen(1, "10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}, ("10.1.0.0/16",))["REMOTE_ADDR"] == "198.51.100.7"
    assert _seen(1, "::ffff:127.0.0.1", {"X-Forwarded-For": "[2001:db8::1]"})["REMOTE_ADDR"] == "2001:db8::1"
    assert str(parse_address("::ffff:198.51.100.7")) == "198.51.100.7"
