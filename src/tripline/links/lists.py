"""URL lists: exact URLs, host suffixes, path prefixes and hashed entries.

Hotline URL lists are often distributed hashed (SHA-256 of the canonical URL,
or of Safe Browsing host/path expressions) so that the list itself does not
hand out addresses. A hashed entry matches when it equals the SHA-256 of the
canonical URL or of any of its expressions; an entry shorter than 64 hex
digits (at least 8) is a hash prefix and matches by prefix.

File formats accepted by :meth:`UrlLists.load`:

* JSON: ``{"name": "...", "entries": [{"kind": "host_suffix", "value": "..."}]}``
* text: one entry per line, ``KIND VALUE`` (``#`` starts a comment), or just
  ``VALUE`` when a default kind is given.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tripline.links.canonical import CanonicalUrl, parse, url_expressions

KINDS = ("exact", "host_suffix", "path_prefix", "hash")
_HEX = re.compile(r"^[0-9a-f]{8,64}$")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def url_hashes(url: str | CanonicalUrl) -> set[str]:
    """Every SHA-256 a hashed list entry may carry for this URL."""
    c = url if isinstance(url, CanonicalUrl) else parse(url)
    texts = {c.url, c.expression, *url_expressions(c)}
    return {sha256_hex(t) for t in texts}


@dataclass
class _List:
    exact: set[str] = field(default_factory=set)  # scheme-less expressions
    host_suffix: set[str] = field(default_factory=set)
    path_prefix: list[tuple[str, str]] = field(default_factory=list)  # (host, path)
    full_hashes: set[str] = field(default_factory=set)
    hash_prefixes: set[str] = field(default_factory=set)


class UrlListError(ValueError):
    pass


class UrlLists:
    def __init__(self) -> None:
        self._lists: dict[str, _List] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def add(self, name: str, kind: str, values) -> UrlLists:
        if kind not in KINDS:
            raise UrlListError(f"unknown URL list kind {kind!r} (expected one of {', '.join(KINDS)})")
        lst = self._lists.setdefault(name, _List())
        for raw in values:
            value = raw.strip()
            if not value:
                continue
            if kind == "exact":
                # http and https lead to the same place for a list's purpose.
                lst.exact.add(parse(value).expression)
            elif kind == "host_suffix":
                lst.host_suffix.add(parse(value).host)
            elif kind == "path_prefix":
                c = parse(value)
                lst.path_prefix.append((c.host, c.path))
            else:
                h = value.lower()
                if not _HEX.match(h):
                    raise UrlListError(f"list {name}: {value!r} is not a hex SHA-256 (or a prefix of 8+ digits)")
                (lst.full_hashes if len(h) == 64 else lst.hash_prefixes).add(h)
        return self

    def load(self, path: str | Path, name: str | None = None, kind: str | None = None) -> UrlLists:
        p = Path(path)
        text = p.read_text("utf-8")
        if p.suffix.lower() == ".json":
            data = json.loads(text)
            list_name = name or data.get("name") or p.stem
            for e in data.get("entries", []):
                self.add(list_name, e.get("kind") or kind or "exact", [e["value"]])
            return self
        list_name = name or p.stem
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if parts[0] in KINDS and len(parts) == 2:
                self.add(list_name, parts[0], [parts[1]])
            elif kind:
                self.add(list_name, kind, [line])
            else:
                raise UrlListError(f"{p}:{n}: expected 'KIND VALUE' (kinds: {', '.join(KINDS)})")
        return self

    def match(self, url: str | CanonicalUrl) -> list[dict]:
        """``[{"list": name, "kind": kind}]``, one per list and kind that matched."""
        if not self._lists:
            return []
        c = url if isinstance(url, CanonicalUrl) else parse(url)
        hashes: set[str] | None = None
        out = []
        for name in self.names:
            lst = self._lists[name]
            if lst.exact and c.expression in lst.exact:
                out.append({"list": name, "kind": "exact"})
            if lst.host_suffix and any(c.host == h or c.host.endswith("." + h) for h in lst.host_suffix):
                out.append({"list": name, "kind": "host_suffix"})
            if any((c.host == h or c.host.endswith("." + h)) and c.path.startswith(p) for h, p in lst.path_prefix):
                out.append({"list": name, "kind": "path_prefix"})
            if lst.full_hashes or lst.hash_prefixes:
                hashes = url_hashes(c) if hashes is None else hashes
                if hashes & lst.full_hashes or any(h.startswith(pre) for h in hashes for pre in lst.hash_prefixes):
                    out.append({"list": name, "kind": "hash"})
        return out
