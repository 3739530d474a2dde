"""Offline decoding of redirect wrappers (``google.com/url?q=...`` and kin).

Wrappers hide where a link really goes; a platform that only looks at the
wrapper's host sees a search engine, not a paywall. The destination is in the
URL itself, so we read it out; we never follow anything.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from tripline.links.canonical import CanonicalUrl, parse

MAX_DEPTH = 5


@dataclass(frozen=True)
class Wrapper:
    host: str
    path: str | None = None
    params: tuple[str, ...] = ()
    whole_query: bool = False

    def applies(self, c: CanonicalUrl) -> bool:
        host_ok = c.host == self.host or c.host.endswith("." + self.host)
        return host_ok and (self.path is None or c.path == self.path)

    def target(self, c: CanonicalUrl, raw_query: str | None) -> str | None:
        query = raw_query if raw_query is not None else c.query
        if not query:
            return None
        if self.whole_query:
            candidate = unquote(query)
            return candidate if _looks_like_url(candidate) else None
        values = dict(parse_qsl(query, keep_blank_values=True))
        for name in self.params:
            v = values.get(name)
            if v and _looks_like_url(v):
                return v
        return None


def _looks_like_url(value: str) -> bool:
    v = value.strip().lower()
    return v.startswith(("http://", "https://", "//", "www."))


def load_wrappers(*extra: Path) -> list[Wrapper]:
    texts = [resources.files("tripline.links").joinpath("redirects.toml").read_text("utf-8")]
    texts += [Path(p).read_text("utf-8") for p in extra]
    out = []
    for text in texts:
        for w in tomllib.loads(text).get("wrapper", []):
            out.append(
                Wrapper(
                    host=w["host"].lower().strip("."),
                    path=w.get("path"),
                    params=tuple(w.get("params", ())),
                    whole_query=bool(w.get("whole_query", False)),
                )
            )
    return out


_DEFAULT: list[Wrapper] | None = None


def default_wrappers() -> list[Wrapper]:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_wrappers()
    return _DEFAULT


def _raw_query(url: str) -> str | None:
    # The canonical query is fully unescaped, which would merge the target's
    # own "&" parameters into the wrapper's; parse the query as written.
    s = url.split("#", 1)[0]
    return s.split("?", 1)[1] if "?" in s else None


def decode_redirect(url: str, wrappers: list[Wrapper] | None = None) -> tuple[str, list[str]]:
    """Return ``(final_url, chain)``: the innermost destination and the wrapper
    URLs (canonical) peeled off to reach it, outermost first. A URL that is not
    a known wrapper comes back unchanged with an empty chain."""
    wrappers = default_wrappers() if wrappers is None else wrappers
    chain: list[str] = []
    current = url
    for _ in range(MAX_DEPTH):
        c = parse(current)
        nxt = None
        for w in wrappers:
            if w.applies(c):
                nxt = w.target(c, _raw_query(current))
                if nxt:
                    break
        if not nxt:
            break
        chain.append(c.url)
        current = nxt.strip()
        if current.startswith("//"):
            current = "https:" + current
    return current, chain
