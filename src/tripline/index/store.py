"""On-disk layout and crash safety.

    <dir>/MANIFEST.json   {"format": 1, "gen": G, "n": n, "updated_ns": ...}
    <dir>/base-G/         codes.npy ids.npy offsets.npy pos.npy partner.npy
    <dir>/log-G.bin       append-only update records since base G
    <dir>/LOCK            flock'ed by the single writer

The atomic replacement of MANIFEST.json is the only commit point for a new base:
everything it names is written to a temporary name, fsynced and renamed first,
so a crash before the replace leaves the old generation intact and a crash
after it leaves the new one complete. Small updates are appended to the log as
one CRC-checked record per call and fsynced; a record torn by a crash fails its
CRC and is ignored by readers and truncated by the next writer, so each call is
all-or-nothing. A missing manifest means generation 0 with an empty base.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tripline.durable import atomic_write, fsync_dir, fsync_file

from . import mih

MANIFEST = "MANIFEST.json"
FORMAT = 1
REC_MAGIC = b"TLR1"
# magic, kind, count, timestamp_ns, then crc32 of (those + payload)
_REC_HEAD = struct.Struct("<4sBxxxIq")
_REC_CRC = struct.Struct("<I")
REC_HEADER = _REC_HEAD.size + _REC_CRC.size
KIND_ADD = 1
KIND_REMOVE = 2
ARRAYS = ("codes", "ids", "offsets", "pos", "partner")


def base_dir(root: Path, gen: int) -> Path:
    return root / f"base-{gen}"


def log_path(root: Path, gen: int) -> Path:
    return root / f"log-{gen}.bin"


def read_manifest(root: Path) -> dict:
    try:
        with open(root / MANIFEST, "rb") as f:
            m = json.loads(f.read())
    except FileNotFoundError:
        return {"format": FORMAT, "gen": 0, "n": 0, "updated_ns": None}
    if m.get("format") != FORMAT:
        raise ValueError(f"{root / MANIFEST}: unsupported index format {m.get('format')!r}")
    return m


def manifest_key(root: Path):
    """Cheap change detector: os.replace gives the manifest a new inode."""
    try:
        st = os.stat(root / MANIFEST)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def write_manifest(root: Path, m: dict) -> None:
    atomic_write(root / MANIFEST, json.dumps(m, sort_keys=True).encode())


@dataclass
class Base:
    """An immutable, memory-mapped base segment. Entries are sorted by id."""

    ids: np.ndarray
    codes: np.ndarray
    offsets: np.ndarray
    pos: np.ndarray
    partner: np.ndarray

    def __post_init__(self):
        self.c64 = self.codes.view(np.uint64)
        self.c16 = self.codes.view(np.uint16)

    def __len__(self):
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, a).nbytes for a in ARRAYS)


def _load(p: Path) -> np.ndarray:
    a = np.load(p, mmap_mode="r")
    mm = getattr(a, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_WILLNEED"):
        # Start readahead now so the first queries do not stall on disk reads.
        mm.madvise(mmap.MADV_WILLNEED)
    # numba wants a plain ndarray, not the np.memmap subclass; the memory is shared.
    return a.view(np.ndarray)


def open_base(root: Path, gen: int, n: int) -> Base | None:
    if n == 0:
        return None
    d = base_dir(root, gen)
    b = Base(**{a: _load(d / f"{a}.npy") for a in ARRAYS})
    if b.codes.shape != (n, 32) or b.pos.shape != (mih.NHALF, n):
        raise ValueError(f"{d}: segment shape does not match the manifest (n={n})")
    return b


def write_base(root: Path, gen: int, ids: np.ndarray, codes: np.ndarray) -> None:
    """Write base-<gen> (ids sorted and unique) via a temp dir + rename, fsynced."""
    final = base_dir(root, gen)
    tmp = root / f"base-{gen}.tmp"
    for p in (tmp, final):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir()
    n = len(ids)
    open_mm = np.lib.format.open_memmap
    np.save(tmp / "ids.npy", ids)
    codes_mm = open_mm(tmp / "codes.npy", mode="w+", dtype=np.uint8, shape=(n, 32))
    codes_mm[:] = codes
    offsets = open_mm(tmp / "offsets.npy", mode="w+", dtype=np.uint32, shape=(mih.NHALF, mih.NBUCKET + 1))
    pos = open_mm(tmp / "pos.npy", mode="w+", dtype=np.uint32, shape=(mih.NHALF, n))
    partner = open_mm(tmp / "partner.npy", mode="w+", dtype=np.uint16, shape=(mih.NHALF, n))
    mih.build_tables(np.asarray(codes_mm).view(np.uint16), np.asarray(offsets), np.asarray(pos), np.asarray(partner))
    for mm in (codes_mm, offsets, pos, partner):
        mm.flush()
    del codes_mm, offsets, pos, partner
    for a in ARRAYS:
        fsync_file(tmp / f"{a}.npy")
    fsync_dir(tmp)
    os.rename(tmp, final)
    fsync_dir(root)


def create_log(root: Path, gen: int) -> None:
    p = log_path(root, gen)
    with open(p, "wb") as f:
        os.fsync(f.fileno())
    fsync_dir(root)


def encode_record(kind: int, ids: np.ndarray, codes: np.ndarray | None) -> bytes:
    payload = ids.astype("<i8").tobytes()
    if kind == KIND_ADD:
        payload += np.ascontiguousarray(codes, dtype=np.uint8).tobytes()
    head = _REC_HEAD.pack(REC_MAGIC, kind, len(ids), time.time_ns())
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _REC_CRC.pack(crc) + payload


def append_record(f, rec: bytes) -> None:
    # One write() of the whole record: a crash leaves a prefix, which fails the CRC.
    f.write(rec)
    f.flush()
    os.fsync(f.fileno())


def parse_log(data: bytes | memoryview, start: int = 0):
    """Decode valid records from `start`; returns (records, end_of_valid_prefix).

    records: list of (kind, ids, codes_or_None, timestamp_ns).
    """
    recs = []
    off = start
    size = len(data)
    while off + REC_HEADER <= size:
        magic, kind, count, ts = _REC_HEAD.unpack_from(data, off)
        (crc,) = _REC_CRC.unpack_from(data, off + _REC_HEAD.size)
        if magic != REC_MAGIC or kind not in (KIND_ADD, KIND_REMOVE):
            break
        plen = count * (40 if kind == KIND_ADD else 8)
        end = off + REC_HEADER + plen
        if end > size:
            break
        payload = bytes(data[off + REC_HEADER : end])
        if zlib.crc32(payload, zlib.crc32(bytes(data[off : off + _REC_HEAD.size]))) != crc:
            break
        ids = np.frombuffer(payload, dtype="<i8", count=count).astype(np.int64)
        codes = None
        if kind == KIND_ADD:
            codes = np.frombuffer(payload, dtype=np.uint8, offset=8 * count).reshape(count, 32)
        recs.append((kind, ids, codes, ts))
        off = end
    return recs, off


def disk_bytes(root: Path, gen: int) -> int:
    total = 0
    d = base_dir(root, gen)
    if d.exists():
        total += sum(p.stat().st_size for p in d.iterdir())
    lp = log_path(root, gen)
    if lp.exists():
        total += lp.stat().st_size
    mp = root / MANIFEST
    if mp.exists():
        total += mp.stat().st_size
    return total


def cleanup(root: Path, gen: int) -> None:
    """Writer only: drop files of other generations and leftovers of crashed writes.

    Readers still mapping an old generation keep working (unlinked files stay
    alive while mapped); a reader racing to open one retries from the manifest.
    """
    keep = {base_dir(root, gen).name, log_path(root, gen).name, MANIFEST, "LOCK"}
    for p in root.iterdir():
        if p.name in keep:
            continue
        if p.name.startswith(("base-", "log-", MANIFEST, f".{MANIFEST}.")):  # the last: a torn manifest write
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
