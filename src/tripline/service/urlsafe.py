"""Fetching media by URL without becoming a server-side request forgery tool.

The host is resolved once, every address is checked (private, loopback,
link-local, multicast, reserved and unspecified ranges are refused unless the
operator allows private targets), and the connection goes to the checked
address so a second DNS answer cannot swap it. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    pass


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address routes to: mapped, 6to4 (2002::/16),
    Teredo (2001::/32: server and de-obfuscated client) and NAT64."""
    out = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        out.extend(ip.teredo)
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return out


def _bad(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if any(_bad(v4) for v4 in _embedded_ipv4(ip)):
            return True
        if ip.ipv4_mapped:
            return False  # judged entirely by the IPv4 address above
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def resolve_checked(url: str, *, allow_private: bool = False) -> tuple[str, str, int, str]:
    """(scheme, host, port, ip) for ``url``, or UnsafeURL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs can be fetched")
    if not parts.hostname:
        raise UnsafeURL("URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with credentials are refused")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeURL(f"cannot resolve {parts.hostname}: {exc}") from exc
    ips = {info[4][0] for info in infos}
    if not ips:
        raise UnsafeURL(f"{parts.hostname} has no address")
    for raw in ips:
        ip = ipaddress.ip_address(raw.split("%")[0])
        if _bad(ip) and not allow_private:
            raise UnsafeURL(f"{parts.hostname} resolves to {ip}, a private, loopback or link-local address")
    return parts.scheme, parts.hostname, port, min(ips)


def fetch(
    url: str, *, allow_private: bool = False, max_bytes: int = 50 * 1024 * 1024, timeout: float = 20.0
) -> tuple[bytes, str]:
    """(body, content type) of ``url``; only after the checks above."""
    scheme, host, port, ip = resolve_checked(url, allow_private=allow_private)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme == "https":
        ctx = ssl.create_default_context()
        conn = http.client.HTTPSConnection(ip, port, timeout=timeout, context=ctx)
        # Certificate and SNI are checked against the name, not the address.
        conn._tunnel_host = None
        conn.host = ip
        sock = socket.create_connection((ip, port), timeout=timeout)
        conn.sock = ctx.wrap_socket(sock, server_hostname=host)
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "tripline"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise UnsafeURL(f"fetching the URL returned HTTP {resp.status} (redirects are not followed)")
        body = resp.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise UnsafeURL("the URL's content is too large")
        return body, resp.getheader("Content-Type", "")
    finally:
        conn.close()
