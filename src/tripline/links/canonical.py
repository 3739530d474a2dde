"""URL canonicalisation in the manner of Google Safe Browsing (v4 "Canonicalization").

The point of a canonical form is that every spelling of one address compares
and hashes equal, so that a list entry written one way matches a link written
another. We follow the Safe Browsing rules (repeated unescaping, host and path
clean-up, IP normalisation, minimal re-escaping) with three deliberate
differences, all documented in docs/distribution.md:

* only *default* ports are dropped; other ports are kept, because a
  non-default port is a different service (hash expressions omit the port,
  as Safe Browsing's do);
* user-info (``user:pass@``) is dropped: it never identifies a destination and
  ``http://trusted.example@other.example`` is a classic disguise;
* characters that would change how the URL re-parses (``/ ? @ :`` in a host,
  ``?`` and ``\\`` in a path) stay escaped, so canonicalising is idempotent.

Pure string work: nothing here resolves or fetches anything.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_MAX_UNESCAPE_ROUNDS = 64
_HEX_PART = re.compile(r"^0[xX][0-9a-fA-F]*$")
_OCT_PART = re.compile(r"^0[0-7]+$")


@dataclass(frozen=True)
class CanonicalUrl:
    scheme: str
    host: str
    port: str  # "" when default or absent
    path: str  # always starts with "/"
    query: str | None  # None: no "?" at all; "": a bare "?"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def url(self) -> str:
        q = "" if self.query is None else "?" + self.query
        return f"{self.scheme}://{self.authority}{self.path}{q}"

    @property
    def expression(self) -> str:
        """Scheme-less, port-less ``host/path?query``: the form Safe Browsing hashes."""
        q = "" if self.query is None else "?" + self.query
        return f"{self.host}{self.path}{q}"

    def __str__(self) -> str:
        return self.url


def _unescape(data: bytes) -> bytes:
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        if b"%" not in data:
            break
        new = _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), data)
        if new == data:
            break
        data = new
    return data


_ESCAPERS: dict[bytes, re.Pattern] = {}


def _escape(data: bytes, extra: bytes = b"") -> str:
    """Percent-escape control bytes, space, non-ASCII, "#", "%" and ``extra``."""
    pattern = _ESCAPERS.get(extra)
    if pattern is None:
        pattern = _ESCAPERS[extra] = re.compile(b"[\\x00-\\x20\\x7f-\\xff#%" + re.escape(extra) + b"]")
    return pattern.sub(lambda m: b"%%%02X" % m.group(0)[0], data).decode("ascii")


def _ipv4(host: str) -> str | None:
    """inet_aton semantics: 1-4 parts, each decimal, 0x-hex or 0-octal; the
    last part fills the remaining bytes (so ``3279880203`` is an address)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    nums = []
    for p in parts:
        if _HEX_PART.match(p):
            n = int(p[2:] or "0", 16)
        elif _OCT_PART.match(p):
            n = int(p, 8)
        elif p.isascii() and p.isdigit() and not (len(p) > 1 and p[0] == "0"):
            n = int(p, 10)
        else:
            return None
        nums.append(n)
    last_bytes = 5 - len(nums)
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256**last_bytes:
        return None
    value = 0
    for n in nums[:-1]:
        value = value * 256 + n
    value = value * 256**last_bytes + nums[-1]
    return str(ipaddress.IPv4Address(value))


_UNICODE_DOTS = re.compile("[\u3002\uff0e\uff61]")


def _clean_dots(host: str) -> str:
    return re.sub(r"\.{2,}", ".", host).strip(".")


def _canonical_host(raw: bytes) -> str:
    data = _unescape(raw)
    try:
        text = _clean_dots(_UNICODE_DOTS.sub(".", data.decode("utf-8")))
    except UnicodeDecodeError:
        text = None
    if text is not None and not text.isascii():
        # IDNA (with nameprep) folds full-width letters, so "ｅｘａｍｐｌｅ.com"
        # and "example.com" become one host.
        try:
            text = _clean_dots(text.encode("idna").decode("ascii"))
        except (UnicodeError, ValueError):
            text = None
    if text is None:
        host = _clean_dots(_escape(data.lower(), b"/?@:\\"))
    else:
        host = _escape(text.lower().encode("utf-8"), b"/?@:\\")
    ip = _ipv4(host) if host else None
    return ip or host


def _canonical_path(raw: bytes) -> str:
    segments: list[bytes] = []
    u = _unescape(raw)
    for seg in u.split(b"/"):
        if seg == b"..":
            if segments:
                segments.pop()
        elif seg not in (b".", b""):
            segments.append(seg)
    # "/a/b/.." names the directory "/a/", so it keeps its trailing slash.
    trailing = u.endswith((b"/", b"/.", b"/..")) or u in (b".", b"..")
    path = "/" + "/".join(_escape(s, b"?\\") for s in segments)
    if trailing and segments:
        path += "/"
    return path


@lru_cache(maxsize=65536)
def parse(url: str) -> CanonicalUrl:
    """Canonicalise ``url`` into its parts. Never raises for string input.

    Re-applied until nothing changes: IDNA folding can produce characters
    (a "%", a dot) that would canonicalise differently on a second pass, and
    a canonical form has to be a fixed point to compare and hash reliably."""
    c = _parse_once(url)
    for _ in range(4):
        again = _parse_once(c.url)
        if again == c:
            break
        c = again
    return c


def _parse_once(url: str) -> CanonicalUrl:
    s = url.strip(" \t\r\n\f\v")
    s = re.sub(r"[\t\r\n]", "", s)
    s = s.split("#", 1)[0]
    m = _SCHEME.match(s)
    if m:
        scheme, rest = m.group(1).lower(), s[m.end() :]
    else:
        scheme, rest = "http", s
    # Browsers read a backslash as a slash in web URLs; so do we.
    rest = rest.replace("\\", "/")
    cut = len(rest)
    for ch in "/?":
        i = rest.find(ch)
        if i != -1:
            cut = min(cut, i)
    authority, tail = rest[:cut], rest[cut:]
    if "?" in tail:
        path_raw, query_raw = tail.split("?", 1)
    else:
        path_raw, query_raw = tail, None
    authority = authority.rsplit("@", 1)[-1]
    port = ""
    ipv6 = None
    if authority.startswith("[") and "]" in authority:
        inner, after = authority[1:].split("]", 1)
        try:
            ipv6 = "[" + ipaddress.IPv6Address(inner).compressed + "]"
        except ValueError:
            ipv6 = None
        if after.startswith(":"):
            port = after[1:]
        host_raw = authority if ipv6 is None else ""
    else:
        host_raw = authority
        if ":" in authority:
            host_raw, port = authority.rsplit(":", 1)
    port = port if port.isdigit() else ""
    if port:
        port = str(int(port))
        if DEFAULT_PORTS.get(scheme) == port:
            port = ""
    host = ipv6 or _canonical_host(host_raw.encode("utf-8", "surrogatepass"))
    path = _canonical_path(path_raw.encode("utf-8", "surrogatepass"))
    query = None if query_raw is None else _escape(_unescape(query_raw.encode("utf-8", "surrogatepass")))
    return CanonicalUrl(scheme, host, port, path, query)


def canonicalize(url: str) -> str:
    """The canonical URL string, e.g. ``canonicalize("HTTP://Ex%61mple.COM.:80/a/../b")``
    is ``"http://example.com/b"``."""
    return parse(url).url


def host_expressions(host: str) -> list[str]:
    """The host itself and up to four parent domains (never the bare TLD), as
    Safe Browsing builds them. An IP address yields only itself."""
    if _ipv4(host) == host or host.startswith("["):
        return [host]
    parts = host.split(".")
    out = [host]
    tail = parts[-5:]
    for i in range(len(tail) - 1):
        candidate = ".".join(tail[i:])
        if candidate not in out:
            out.append(candidate)
    return out[:5]


def path_expressions(path: str, query: str | None) -> list[str]:
    """The exact path with query, without query, and up to four prefixes from
    the root, each ending in "/"."""
    out = []
    if query is not None:
        out.append(f"{path}?{query}")
    out.append(path)
    segments = [s for s in path.split("/") if s]
    directories = segments if path.endswith("/") else segments[:-1]
    prefix = "/"
    prefixes = [prefix]
    for seg in directories[:3]:
        prefix += seg + "/"
        prefixes.append(prefix)
    for p in prefixes:
        if p not in out and len(out) < 6:
            out.append(p)
    return out


def url_expressions(url: str | CanonicalUrl) -> list[str]:
    """Every host-suffix/path-prefix expression of a URL (at most 30)."""
    c = url if isinstance(url, CanonicalUrl) else parse(url)
    return [h + p for h in host_expressions(c.host) for p in path_expressions(c.path, c.query)]
