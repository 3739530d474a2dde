"""Enumerate scan inputs: files, folders, and zip/tar archives (nested too),
read safely. Nothing is ever extracted to disk; archive members are read into
memory under limits, so a hostile archive costs bounded memory and time.

Only regular files are ever opened. Symlinks, FIFOs, sockets and devices
become *skipped* items (``skipped_link`` / ``skipped_special``) so they are
listed rather than silently dropped; a FIFO is never opened, because opening
one blocks until a writer appears.
"""

from __future__ import annotations

import base64
import io
import os
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from tripline.media import sniff
from tripline.model import ErrorCode, ItemError

ARCHIVE_TYPES = {"application/zip", "application/x-tar", "application/gzip"}

SKIPPED_LINK = "skipped_link"
SKIPPED_SPECIAL = "skipped_special"

# A zip's end-of-central-directory record sits in its last 64 KiB + 22 bytes;
# finding one at the end of an image means a container rides on it (polyglot).
_EOCD = b"PK\x05\x06"
_TAIL = 65_536 + 22


@dataclass(frozen=True)
class ArchiveLimits:
    max_depth: int = 3  # archive inside archive inside archive
    max_members: int = 1_000_000  # per archive
    max_total_bytes: int = 20 * 1024**3  # uncompressed, per top-level archive
    max_member_bytes: int = 200 * 1024**2
    # uncompressed/compressed: per zip member, and for a whole tar.gz (whose
    # members share one compressed stream); only above 1 MiB of output.
    max_ratio: int = 200


_RATIO_FLOOR = 1024 * 1024


@dataclass
class Item:
    """One thing to scan. ``data`` is set for archive members; files are read
    by the worker from ``fs_path`` so their bytes never cross a process boundary."""

    key: str  # stable identity: path, or "archive!member" (always valid UTF-8)
    stamp: str  # changes when the content may have changed
    size: int
    fs_path: str | None = None
    data: bytes | None = None
    error: ItemError | None = None
    # Set when the name is not valid UTF-8: the raw bytes of the key, base64;
    # ``key`` then shows each undecodable byte as \xNN.
    key_b64: str | None = None
    skipped: dict | None = None  # {"code": skipped_link|skipped_special, "message"}
    warnings: list[str] = field(default_factory=list)

    def read(self, max_bytes: int | None = None) -> bytes:
        if self.error is not None:
            raise self.error
        if self.skipped is not None:
            raise ItemError(ErrorCode.READ_ERROR, f"{self.skipped['code']}: {self.skipped['message']}")
        if self.data is not None:
            if max_bytes is not None and len(self.data) > max_bytes:
                raise ItemError(ErrorCode.TOO_MANY_BYTES, f"{len(self.data)} bytes exceeds the limit of {max_bytes}")
            return self.data
        assert self.fs_path is not None
        return read_regular(self.fs_path, max_bytes)


def key_of(name: str) -> tuple[str, str | None]:
    """A printable, valid-UTF-8 key for a file-system name (which may carry
    undecodable bytes as surrogates), and the raw bytes as base64 when they
    are not UTF-8, so the exact name can always be recovered."""
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate that no file system produced
        raw = name.encode("utf-8", "surrogatepass")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode()


def _raw(item: Item) -> str:
    """The key as a file-system string (undecodable bytes as surrogates)."""
    return os.fsdecode(base64.b64decode(item.key_b64)) if item.key_b64 else item.key


def _rekey(item: Item, raw: str) -> None:
    item.key, item.key_b64 = key_of(raw)


def name_bytes(record: dict) -> bytes:
    """The exact bytes of a record's key (inverse of ``key_of``)."""
    if record.get("key_b64"):
        return base64.b64decode(record["key_b64"])
    return record["key"].encode("utf-8")


def open_regular(path: str):
    """A binary file object for ``path`` if it is a regular file, never
    anything else: O_NONBLOCK so a FIFO swapped in after the walk cannot
    block the open, O_NOFOLLOW so a link swapped in is refused, and fstat
    after the open so what is read is what was checked."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", -1) or os.path.islink(path):
            raise ItemError(ErrorCode.READ_ERROR, "is a symbolic link (not followed)") from None
        raise ItemError(ErrorCode.READ_ERROR, f"{exc.strerror or exc}") from None
    f = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        f.close()
        raise ItemError(ErrorCode.READ_ERROR, f"is not a regular file ({_kind(mode)})")
    return f


def read_regular(path: str, max_bytes: int | None = None, *, head: int | None = None) -> bytes:
    """The bytes of a regular file (see ``open_regular``), its declared size
    checked against ``max_bytes`` before a byte is read; or its first ``head`` bytes."""
    with open_regular(path) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and head is None and size > max_bytes:
                raise ItemError(ErrorCode.TOO_MANY_BYTES, f"{size} bytes exceeds the limit of {max_bytes}")
            # Ask for the declared size + 1 (a file growing meanwhile is caught),
            # never for the limit: the buffer is allocated up front.
            data = f.read(head if head is not None else size + 1)
        except OSError as exc:
            raise ItemError(ErrorCode.READ_ERROR, f"{exc.strerror or exc}") from None
    if head is None and len(data) > size:
        raise ItemError(ErrorCode.READ_ERROR, "the file grew while it was read; scan it again when it is complete")
    return data


def refusal(path: str) -> dict | None:
    """For commands given single files (hash, provenance): why ``path`` is
    not opened ({"code", "message"}), or None for a regular file. A link is
    refused rather than followed, so naming a link to a secret file never
    reads it."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return {"code": str(ErrorCode.READ_ERROR), "message": exc.strerror or str(exc)}
    if stat.S_ISLNK(st.st_mode):
        return {"code": SKIPPED_LINK, "message": "is a symbolic link (not followed)"}
    if stat.S_ISDIR(st.st_mode):
        return {"code": str(ErrorCode.READ_ERROR), "message": "is a directory"}
    if not stat.S_ISREG(st.st_mode):
        return {"code": SKIPPED_SPECIAL, "message": f"is a {_kind(st.st_mode)} (never opened)"}
    return None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special file"


def _item(path: str, stamp: str, size: int, **kw) -> Item:
    key, b64 = key_of(path)
    return Item(key, stamp, size, key_b64=b64, **kw)


def _skipped(path: str, st: os.stat_result, code: str, message: str) -> Item:
    return _item(path, f"{code}:{st.st_mtime_ns}", 0, skipped={"code": code, "message": message})


@dataclass
class _Entry:
    path: str  # as listed (what the key shows)
    st: os.stat_result | None  # lstat of the entry; None if it vanished
    real: str | None = None  # for a followed link: the target's path
    skip: Item | None = None
    error: str | None = None


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _entries(paths: list[str], follow_links: bool) -> Iterator[_Entry]:
    """Every non-directory entry under ``paths``, in a stable order. Links
    named on the command line are followed (the operator named them);
    links found inside are listed as skipped unless ``follow_links``, and
    then only followed when their target stays inside the scanned roots."""
    roots = [os.path.realpath(p) for p in paths]
    seen_dirs: set[tuple[int, int]] = set()

    def visit(path: str, st: os.stat_result, real: str | None) -> Iterator[_Entry]:
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen_dirs:
                return
            seen_dirs.add((st.st_dev, st.st_ino))
            try:
                names = sorted(os.listdir(real or path))
            except OSError as exc:
                yield _Entry(path, st, error=f"{exc.strerror or exc}")
                return
            for name in names:
                child = os.path.join(path, name)
                try:
                    cst = os.lstat(os.path.join(real or path, name))
                except OSError as exc:
                    yield _Entry(child, None, error=f"{exc.strerror or exc}")
                    continue
                yield from inner(child, os.path.join(real, name) if real else None, cst)
        elif stat.S_ISREG(st.st_mode):
            yield _Entry(path, st, real=real)
        else:
            yield _Entry(path, st, skip=_skipped(path, st, SKIPPED_SPECIAL, f"{_kind(st.st_mode)}: never opened"))

    def inner(path: str, real: str | None, st: os.stat_result) -> Iterator[_Entry]:
        if not stat.S_ISLNK(st.st_mode):
            yield from visit(path, st, real)
            return
        target = os.readlink(real or path)
        if not follow_links:
            yield _Entry(
                path,
                st,
                skip=_skipped(path, st, SKIPPED_LINK, f"symbolic link to {key_of(target)[0]!r} (not followed)"),
            )
            return
        resolved = os.path.realpath(real or path)
        try:
            tst = os.stat(resolved)
        except OSError:
            yield _Entry(path, st, skip=_skipped(path, st, SKIPPED_LINK, "dangling or looping symbolic link"))
            return
        if not _inside(resolved, roots):
            yield _Entry(
                path, st, skip=_skipped(path, st, SKIPPED_LINK, "symbolic link leads outside the scanned folders")
            )
            return
        if stat.S_ISDIR(tst.st_mode) and (tst.st_dev, tst.st_ino) in seen_dirs:
            yield _Entry(
                path, st, skip=_skipped(path, st, SKIPPED_LINK, "symbolic link to a folder already scanned (loop)")
            )
            return
        yield from visit(path, tst, resolved)

    for raw in paths:
        try:
            st = os.stat(raw)  # command-line arguments: links followed
        except OSError as exc:
            try:
                lst = os.lstat(raw)
            except OSError:
                yield _Entry(
                    raw,
                    None,
                    error="no such file or directory"
                    if isinstance(exc, FileNotFoundError)
                    else f"{exc.strerror or exc}",
                )
                continue
            yield _Entry(raw, lst, skip=_skipped(raw, lst, SKIPPED_LINK, "dangling or looping symbolic link"))
            continue
        yield from visit(raw, st, os.path.realpath(raw) if os.path.islink(raw) else None)


def walk(
    paths: list[str],
    limits: ArchiveLimits = ArchiveLimits(),
    max_bytes: int = 200 * 1024**2,
    *,
    follow_links: bool = False,
) -> Iterator[Item]:
    """Yield every item under ``paths`` in a stable order."""
    for entry in _entries(paths, follow_links):
        if entry.skip is not None:
            yield entry.skip
        elif entry.error is not None:
            yield _item(entry.path, "", 0, error=ItemError(ErrorCode.READ_ERROR, entry.error))
        else:
            yield from _regular_file_items(entry.path, entry.real or entry.path, entry.st, limits, max_bytes)


def _file_items(path: str, limits: ArchiveLimits, max_bytes: int = 200 * 1024**2) -> Iterator[Item]:
    """The items of one path, not followed if it is a link (batch sources)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        yield _item(path, "", 0, error=ItemError(ErrorCode.READ_ERROR, f"{exc.strerror or exc}"))
        return
    if stat.S_ISLNK(st.st_mode):
        yield _skipped(path, st, SKIPPED_LINK, "symbolic link (not followed)")
    elif not stat.S_ISREG(st.st_mode):
        yield _skipped(path, st, SKIPPED_SPECIAL, f"{_kind(st.st_mode)}: never opened")
    else:
        yield from _regular_file_items(path, path, st, limits, max_bytes)


def _regular_file_items(
    path: str, fs_path: str, st: os.stat_result, limits: ArchiveLimits, max_bytes: int
) -> Iterator[Item]:
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    try:
        kind = sniff(read_regular(fs_path, head=512)) if st.st_size else None
        tail = _trailing_zip(fs_path, st.st_size) if kind not in ARCHIVE_TYPES else False
    except ItemError as exc:
        yield _item(path, "", 0, error=exc)
        return
    if kind in ARCHIVE_TYPES:
        if st.st_size > limits.max_total_bytes:
            yield _item(
                path,
                stamp,
                st.st_size,
                error=ItemError(
                    ErrorCode.ARCHIVE_LIMIT, f"archive of {st.st_size} bytes exceeds {limits.max_total_bytes}"
                ),
            )
            return
        try:
            with open_regular(fs_path) as f:
                yield from _archive_items(f, kind, path, stamp, 1, limits, [0], st.st_size)
        except ItemError as exc:
            yield _item(path, stamp, st.st_size, error=exc)
        return
    host = _item(path, stamp, st.st_size, fs_path=fs_path)
    if tail:
        host.warnings.append(
            f"carries_archive: a zip archive is appended to this file; its members are scanned as {host.key}!<member>"
        )
    yield host
    if tail:
        try:
            with open_regular(fs_path) as f:
                # The host file already has its record; an appended zip with
                # no files adds none.
                yield from _archive_items(
                    f, "application/zip", path, stamp, 1, limits, [0], st.st_size, record_if_empty=False
                )
        except ItemError as exc:
            yield _item(path + "!", stamp, 0, error=exc)


def _trailing_zip(fs_path: str, size: int) -> bool:
    if size < 22:
        return False
    with open_regular(fs_path) as f:
        f.seek(max(0, size - _TAIL))
        return _EOCD in f.read(_TAIL)


def _safe_member_name(name: str) -> str | None:
    """The normalised member path, or None if it could escape an extraction
    root (absolute, drive letters, '..'). We never extract, but downstream
    tools that do would be exposed, so such members are reported."""
    name = name.replace("\\", "/")
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        return None
    return str(pure)


def _archive_items(
    fileobj,
    kind: str,
    key: str,
    stamp: str,
    depth: int,
    limits: ArchiveLimits,
    total: list[int],
    size: int | None = None,
    *,
    record_if_empty: bool = True,
) -> Iterator[Item]:
    """Members of the archive whose key (a file-system string) is ``key``;
    ``size`` is the archive's size in bytes (default: measured by seeking)."""
    if size is None:
        size = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(0)
    if depth > limits.max_depth:
        yield _item(
            key, stamp, 0, error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"archives nested deeper than {limits.max_depth}")
        )
        return
    names: Counter[str] = Counter()
    produced = 0
    try:
        if kind == "application/zip":
            members = _zip_items(fileobj, key, stamp, limits, total)
        else:
            members = _tar_items(fileobj, key, stamp, limits, total, size, compressed=kind == "application/gzip")
        for item, data in members:
            # Duplicate member names are distinct items: the second copy of
            # "a.jpg" becomes "arc!a.jpg#2" so each has its own record.
            names[item.key] += 1
            if names[item.key] > 1:
                _rekey(item, f"{_raw(item)}#{names[item.key]}")
            produced += 1
            if data is None:
                yield item
            else:
                yield from _member(item, data, depth, limits, total)
    except Exception as exc:  # noqa: BLE001 - tarfile/gzip/zipfile raise TypeError, struct.error... on garbage
        yield _item(
            key, stamp, 0, error=ItemError(ErrorCode.DECODE_ERROR, f"unreadable archive: {type(exc).__name__}: {exc}")
        )
        return
    if not produced and record_if_empty:
        # An archive with no file in it still gets its one record: a silent
        # zero would look like a scan that never saw it.
        yield _item(key, stamp, size, error=ItemError(ErrorCode.EMPTY, "the archive holds no files"))


def _member(item: Item, data: bytes, depth: int, limits: ArchiveLimits, total: list[int]) -> Iterator[Item]:
    kind = sniff(data[:512])
    if kind in ARCHIVE_TYPES:
        yield from _archive_items(io.BytesIO(data), kind, _raw(item), item.stamp, depth + 1, limits, total, len(data))
    else:
        item.data, item.size = data, len(data)
        yield item


def _member_item(parent: str, name: str, stamp: str, size: int, error: ItemError | None = None) -> Item:
    return _item(f"{parent}!{name}", stamp, size, error=error)


def _budget(size: int, limits: ArchiveLimits, total: list[int]) -> ItemError | None:
    if size > limits.max_member_bytes:
        return ItemError(ErrorCode.ARCHIVE_LIMIT, f"member of {size} bytes exceeds {limits.max_member_bytes}")
    if total[0] + size > limits.max_total_bytes:
        return ItemError(ErrorCode.ARCHIVE_LIMIT, f"archive expands beyond {limits.max_total_bytes} bytes")
    return None


def _zip_items(fileobj, key, stamp, limits, total) -> Iterator[tuple[Item, bytes | None]]:
    with zipfile.ZipFile(fileobj) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            yield (
                _item(
                    key,
                    stamp,
                    0,
                    error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"{len(infos)} members exceeds {limits.max_members}"),
                ),
                None,
            )
            return
        for info in infos:
            name = _safe_member_name(info.filename)
            mstamp = f"{stamp}:{info.CRC:08x}"
            if name is None:
                yield (
                    _member_item(
                        key,
                        info.filename,
                        mstamp,
                        0,
                        ItemError(ErrorCode.ARCHIVE_UNSAFE, f"member path {info.filename!r} escapes the archive"),
                    ),
                    None,
                )
                continue
            err = _budget(info.file_size, limits, total)
            if err is None and info.file_size > _RATIO_FLOOR and info.file_size > info.compress_size * limits.max_ratio:
                err = ItemError(
                    ErrorCode.ARCHIVE_LIMIT,
                    f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 exceeds {limits.max_ratio}:1",
                )
            if err is not None:
                yield _member_item(key, name, mstamp, info.file_size, err), None
                continue
            try:
                # Read at most the declared size + 1: a lying header cannot make us read more.
                with zf.open(info) as member:
                    data = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, ValueError) as exc:
                yield _member_item(key, name, mstamp, info.file_size, ItemError(ErrorCode.READ_ERROR, str(exc))), None
                continue
            if len(data) > info.file_size:
                yield (
                    _member_item(
                        key,
                        name,
                        mstamp,
                        info.file_size,
                        ItemError(ErrorCode.ARCHIVE_LIMIT, "member larger than its header declares"),
                    ),
                    None,
                )
                continue
            total[0] += len(data)
            yield _member_item(key, name, mstamp, len(data)), data


def _tar_items(fileobj, key, stamp, limits, total, size: int, compressed: bool) -> Iterator[tuple[Item, bytes | None]]:
    # Everything a tar can make us read is bounded up front by what its bytes
    # can hold: the file itself, or (compressed) the file times the ratio
    # limit. A member declaring more is a lie; skipping it would mean reading
    # (or decompressing) that much, so the rest of the archive is given up.
    capacity = max(size * limits.max_ratio, _RATIO_FLOOR) if compressed else size
    expanded = 0
    # Stream mode ("r|*") reads members in order without seeking, so a tar.gz is decompressed once.
    with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
        count = 0
        for info in tf:
            count += 1
            if count > limits.max_members:
                yield (
                    _item(
                        key,
                        stamp,
                        0,
                        error=ItemError(ErrorCode.ARCHIVE_LIMIT, f"more than {limits.max_members} members"),
                    ),
                    None,
                )
                return
            if info.isdir():
                continue
            name = _safe_member_name(info.name)
            mstamp = f"{stamp}:{info.size}:{info.mtime}"
            if name is None or not info.isfile():
                what = "escapes the archive" if name is None else "is a link or special file (not followed)"
                yield (
                    _member_item(
                        key,
                        name or info.name,
                        mstamp,
                        0,
                        ItemError(ErrorCode.ARCHIVE_UNSAFE, f"member {info.name!r} {what}"),
                    ),
                    None,
                )
                continue
            expanded += info.size
            if expanded > capacity:
                why = (
                    f"expands beyond {limits.max_ratio}:1 of its {size} compressed bytes"
                    if compressed
                    else f"declares more bytes than the {size}-byte archive holds"
                )
                yield (
                    _member_item(
                        key,
                        name,
                        mstamp,
                        info.size,
                        ItemError(
                            ErrorCode.ARCHIVE_LIMIT, f"member of {info.size} bytes: archive {why}; the rest is not read"
                        ),
                    ),
                    None,
                )
                return
            err = _budget(info.size, limits, total)
            if err is not None:
                yield _member_item(key, name, mstamp, info.size, err), None
                continue
            member = tf.extractfile(info)
            data = member.read(info.size) if member else b""
            if len(data) < info.size:
                yield (
                    _member_item(
                        key,
                        name,
                        mstamp,
                        info.size,
                        ItemError(
                            ErrorCode.TRUNCATED, f"member declares {info.size} bytes, the archive holds {len(data)}"
                        ),
                    ),
                    None,
                )
                return
            total[0] += len(data)
            yield _member_item(key, name, mstamp, len(data)), data


def count_items(paths: list[str], *, follow_links: bool = False) -> int | None:
    """A cheap upper-bound count for the progress bar: entries in folders and
    zip members; tar members are only known once read, so None if any tar.
    Only regular files are opened (a FIFO would block the count forever)."""
    n = 0
    for entry in _entries(paths, follow_links):
        if entry.skip is not None or entry.error is not None:
            n += 1
            continue
        fs_path = entry.real or entry.path
        try:
            kind = sniff(read_regular(fs_path, head=512))
        except ItemError:
            n += 1
            continue
        if kind == "application/zip":
            try:
                with open_regular(fs_path) as f, zipfile.ZipFile(f) as zf:
                    n += sum(1 for i in zf.infolist() if not i.is_dir())
            except Exception:  # noqa: BLE001 - only a progress estimate
                n += 1
        elif kind in ARCHIVE_TYPES:
            return None
        else:
            n += 1
    return n
