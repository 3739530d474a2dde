"""Enumerate scan inputs: files, folders, and zip/tar archives (nested too),
read safely. Nothing is ever extracted to disk; archive members are read into
memory under limits, so a hostile archive costs bounded memory and time."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tripline.media import sniff
from tripline.model import ErrorCode, ItemError

ARCHIVE_TYPES = {"application/zip", "application/x-tar", "application/gzip"}


@dataclass(frozen=True)
class ArchiveLimits:
    max_depth: int = 3                    # archive inside archive inside archive
    max_members: int = 1_000_000          # per archive
    max_total_bytes: int = 20 * 1024**3   # uncompressed, per top-level archive
    max_member_bytes: int = 200 * 1024**2
    max_ratio: int = 200                  # uncompressed/compressed, per zip member


@dataclass
class Item:
    """One thing to scan. ``data`` is set for archive members; files are read
    by the worker from ``fs_path`` so their bytes never cross a process boundary."""
    key: str                  # stable identity: path, or "archive!member"
    stamp: str                # changes when the content may have changed
    size: int
    fs_path: str | None = None
    data: bytes | None = None
    error: ItemError | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.fs_path is not None
        try:
            with open(self.fs_path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise ItemError(ErrorCode.READ_ERROR, f"{exc.strerror or exc}") from exc


def _head(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(512)


def walk(paths: list[str], limits: ArchiveLimits = ArchiveLimits(), max_bytes: int = 200 * 1024**2) -> Iterator[Item]:
    """Yield every item under ``paths`` in a stable order."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs.sort()
                for name in sorted(files):
                    yield from _file_items(os.path.join(root, name), limits, max_bytes)
        elif p.exists():
            yield from _file_items(str(p), limits, max_bytes)
        else:
            yield Item(str(p), "", 0, error=ItemError(ErrorCode.READ_ERROR, "no such file or directory"))


def _file_items(path: str, limits: ArchiveLimits, max_bytes: int) -> Iterator[Item]:
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return  # symlinks, sockets, devices: never followed or read
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        kind = sniff(_head(path)) if st.st_size else None
    except OSError as exc:
        yield Item(path, "", 0, error=ItemError(ErrorCode.READ_ERROR, f"{exc.strerror or exc}"))
        return
    if kind in ARCHIVE_TYPES:
        try:
            with open(path, "rb") as f:
                yield from _archive_items(f, kind, path, stamp, 1, limits, [0])
        except OSError as exc:
            yield Item(path, stamp, st.st_size, error=ItemError(ErrorCode.READ_ERROR, str(exc)))
        return
    yield Item(path, stamp, st.st_size, fs_path=path)


def _safe_member_name(name: str) -> str | None:
    """The normalised member path, or None if it could escape an extraction
    root (absolute, drive letters, '..'). We never extract, but downstream
    tools that do would be exposed, so such members are reported."""
    name = name.replace("\\", "/")
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        return None
    return str(pure)


def _archive_items(fileobj, kind: str, key: str, stamp: str, depth: int, limits: ArchiveLimits, total: list[int]) -> Iterator[Item]:
    if depth > limits.max_depth:
        yield Item(key, stamp, 0, error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"archives nested deeper than {limits.max_depth}"))
        return
    try:
        if kind == "application/zip":
            yield from _zip_items(fileobj, key, stamp, depth, limits, total)
        else:
            yield from _tar_items(fileobj, key, stamp, depth, limits, total)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        yield Item(key, stamp, 0, error=ItemError(ErrorCode.DECODE_ERROR, f"unreadable archive: {exc}"))


def _member(parent: str, name: str, stamp: str, data: bytes, depth: int, limits: ArchiveLimits, total: list[int]) -> Iterator[Item]:
    key = f"{parent}!{name}"
    kind = sniff(data[:512])
    if kind in ARCHIVE_TYPES:
        yield from _archive_items(io.BytesIO(data), kind, key, stamp, depth + 1, limits, total)
    else:
        yield Item(key, stamp, len(data), data=data)


def _budget(size: int, limits: ArchiveLimits, total: list[int]) -> ItemError | None:
    if size > limits.max_member_bytes:
        return ItemError(ErrorCode.ARCHIVE_LIMIT, f"member of {size} bytes exceeds {limits.max_member_bytes}")
    if total[0] + size > limits.max_total_bytes:
        return ItemError(ErrorCode.ARCHIVE_LIMIT, f"archive expands beyond {limits.max_total_bytes} bytes")
    return None


def _zip_items(fileobj, key, stamp, depth, limits, total) -> Iterator[Item]:
    with zipfile.ZipFile(fileobj) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            yield Item(key, stamp, 0, error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"{len(infos)} members exceeds {limits.max_members}"))
            return
        for info in infos:
            name = _safe_member_name(info.filename)
            mkey = f"{key}!{name or info.filename}"
            mstamp = f"{stamp}:{info.CRC:08x}"
            if name is None:
                yield Item(mkey, mstamp, 0, error=ItemError(ErrorCode.ARCHIVE_UNSAFE, f"member path {info.filename!r} escapes the archive"))
                continue
            err = _budget(info.file_size, limits, total)
            if err is None and info.compress_size and info.file_size / info.compress_size > limits.max_ratio and info.file_size > 1024 * 1024:
                err = ItemError(ErrorCode.ARCHIVE_LIMIT, f"compression ratio {info.file_size // info.compress_size}:1 exceeds {limits.max_ratio}:1")
            if err is not None:
                yield Item(mkey, mstamp, info.file_size, error=err)
                continue
            try:
                # Read at most the declared size + 1: a lying header cannot make us read more.
                with zf.open(info) as member:
                    data = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
                yield Item(mkey, mstamp, info.file_size, error=ItemError(ErrorCode.READ_ERROR, str(exc)))
                continue
            if len(data) > info.file_size:
                yield Item(mkey, mstamp, info.file_size, error=ItemError(ErrorCode.ARCHIVE_LIMIT, "member larger than its header declares"))
                continue
            total[0] += len(data)
            yield from _member(key, name, mstamp, data, depth, limits, total)


def _tar_items(fileobj, key, stamp, depth, limits, total) -> Iterator[Item]:
    # Stream mode ("r|*") reads members in order without seeking, so a tar.gz is decompressed once.
    with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
        count = 0
        for info in tf:
            count += 1
            if count > limits.max_members:
                yield Item(key, stamp, 0, error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"more than {limits.max_members} members"))
                return
            if info.isdir():
                continue
            name = _safe_member_name(info.name)
            mkey = f"{key}!{name or info.name}"
            mstamp = f"{stamp}:{info.size}:{info.mtime}"
            if name is None or not info.isfile():
                what = "escapes the archive" if name is None else "is a link or special file (not followed)"
                yield Item(mkey, mstamp, 0, error=ItemError(ErrorCode.ARCHIVE_UNSAFE, f"member {info.name!r} {what}"))
                continue
            err = _budget(info.size, limits, total)
            if err is not None:
                yield Item(mkey, mstamp, info.size, error=err)
                continue
            member = tf.extractfile(info)
            data = member.read(info.size) if member else b""
            total[0] += len(data)
            yield from _member(key, name, mstamp, data, depth, limits, total)


def count_items(paths: list[str]) -> int | None:
    """A cheap upper-bound count for the progress bar: files in folders and
    zip members; tar members are only known once read, so None if any tar."""
    n = 0
    for raw in paths:
        p = Path(raw)
        files = (os.path.join(r, f) for r, _, fs in os.walk(p) for f in fs) if p.is_dir() else [str(p)]
        for f in files:
            try:
                kind = sniff(_head(f))
            except OSError:
                n += 1
                continue
            if kind == "application/zip":
                try:
                    with zipfile.ZipFile(f) as zf:
                        n += sum(1 for i in zf.infolist() if not i.is_dir())
                except (zipfile.BadZipFile, OSError):
                    n += 1
            elif kind in ARCHIVE_TYPES:
                return None
            else:
                n += 1
    return n
