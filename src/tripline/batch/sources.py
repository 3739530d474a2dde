"""Backfill sources: what to scan, listed once by the driver as *units*, and
read into scan Items by the workers.

A unit is one top-level object: a local file (an archive expands into its
members in the worker, exactly as ``tripline scan`` does), or a URI on any
fsspec filesystem (``s3://``, ``gs://``, ``file://``, ``memory://`` ...).
Sources:

- a local folder or file (archives included): same keys and stamps as ``tripline scan``;
- ``manifest:PATH`` — a JSONL (one URI string, or ``{"uri": ...}`` per line) or
  Parquet (column ``uri``) file listing URIs or local paths;
- ``PROTOCOL://...`` — every file under an fsspec prefix (or one file).

The listing is sorted and de-duplicated, so shards are deterministic.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

from tripline.media import sniff
from tripline.model import ErrorCode, ItemError
from tripline.scan.walker import (
    ARCHIVE_TYPES,
    ArchiveLimits,
    Item,
    _archive_items,
    _file_items,
)

MANIFEST_PREFIX = "manifest:"


def is_url(s: str) -> bool:
    return "://" in s


def list_units(sources: list[str]) -> list[str]:
    """Every unit of every source, sorted and de-duplicated."""
    units: set[str] = set()
    for src in sources:
        if src.startswith(MANIFEST_PREFIX):
            units.update(read_manifest(src[len(MANIFEST_PREFIX) :]))
        elif is_url(src):
            units.update(_list_fsspec(src))
        else:
            units.update(_list_local(src))
    return sorted(units)


def _list_local(raw: str) -> list[str]:
    p = Path(raw)
    if p.is_dir():
        out = []
        for root, dirs, files in os.walk(p, followlinks=False):
            dirs.sort()
            out.extend(os.path.join(root, name) for name in sorted(files))
        return out
    return [str(p)]  # a missing path becomes a read_error item, as in scan


def _list_fsspec(url: str) -> list[str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if fs.isdir(root):
        paths = fs.find(root)
    elif fs.exists(root):
        paths = [root]
    else:
        raise FileNotFoundError(f"no such file or prefix: {url}")
    return [fs.unstrip_protocol(p) for p in paths]


def read_manifest(path: str) -> list[str]:
    """URIs listed by a JSONL or Parquet manifest (local path or fsspec URL)."""
    import fsspec

    with fsspec.open(path, "rb") as f:
        data = f.read()
    if path.endswith(".parquet") or data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        col = "uri" if "uri" in table.column_names else table.column_names[0]
        return [u for u in table.column(col).to_pylist() if u]
    out = []
    for n, line in enumerate(data.decode().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
        uri = obj.get("uri") or obj.get("path") if isinstance(obj, dict) else obj
        if not isinstance(uri, str) or not uri:
            raise ValueError(f'{path}:{n}: expected a URI string or {{"uri": ...}}')
        out.append(uri)
    return out


class UnitReader:
    """Turns units into Items inside a worker (keeps one fsspec filesystem per protocol)."""

    def __init__(self, limits: ArchiveLimits = ArchiveLimits(), max_bytes: int = 200 * 1024**2):
        self.limits, self.max_bytes = limits, max_bytes
        self._fs: dict[str, object] = {}

    def items(self, unit: str, cwd: str | None = None) -> Iterator[Item]:
        if not is_url(unit):
            path = os.path.join(cwd, unit) if cwd else unit
            if not os.path.lexists(path):
                yield Item(unit, "", 0, error=ItemError(ErrorCode.READ_ERROR, "no such file or directory"))
                return
            for item in _file_items(path, self.limits, self.max_bytes):
                if path != unit:  # keep the key as listed (relative), read from the absolute path
                    item.key = unit + item.key[len(path) :]
                yield item
            return
        yield from self._remote_items(unit)

    def _filesystem(self, uri: str):
        import fsspec

        protocol = uri.split("://", 1)[0]
        if protocol not in self._fs:
            self._fs[protocol] = fsspec.filesystem(protocol)
        fs = self._fs[protocol]
        return fs, fs._strip_protocol(uri)

    def _remote_items(self, uri: str) -> Iterator[Item]:
        try:
            fs, path = self._filesystem(uri)
            info = fs.info(path)
            size = int(info.get("size") or 0)
            version = (
                info.get("ETag")
                or info.get("etag")
                or info.get("mtime")
                or info.get("LastModified")
                or info.get("created")
                or info.get("generation")
                or ""
            )
            stamp = f"{size}:{version}"
            if size > self.max_bytes:
                yield Item(
                    uri,
                    stamp,
                    size,
                    error=ItemError(ErrorCode.TOO_MANY_BYTES, f"{size} bytes exceeds {self.max_bytes}"),
                )
                return
            data = fs.cat_file(path)
        except (OSError, ValueError) as exc:
            yield Item(uri, "", 0, error=ItemError(ErrorCode.READ_ERROR, f"{type(exc).__name__}: {exc}"))
            return
        kind = sniff(data[:512]) if data else None
        if kind in ARCHIVE_TYPES:
            yield from _archive_items(io.BytesIO(data), kind, uri, stamp, 1, self.limits, [0])
        else:
            yield Item(uri, stamp, len(data), data=data)
