"""A bank's keypoint store and inverted file (tripline.keypoints).

Folder ``<bank index>.keypoints/`` holds ``records.bin``: one fixed-size
record per banked image (entry id, working size, up to BANK_FEATURES points
and ORB descriptors). Records are only appended, with fsync; a torn record
at the end (a crash mid-append) is cut off when the file is next opened, so
the file is always a whole number of records. Like the regions index it has
no database copy (the database keeps the exchanged PDQ only): a removed or
disabled entry's record stays, and the matcher keeps only hits on entries
live in the bank's PDQ index.

The inverted file (word -> records) is built when a matcher first opens the
bank after records were added (0.2 s per 10k banked images, 61 s at 1M) and
saved beside the records as ``inverted-<records>-<parameters>.npy``, which
later openers memory-map (docs/robust-matching.md has the costs and the
scaling limits).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tripline.durable import atomic_file
from tripline.keypoints import BANK_FEATURES, INDEXED_FEATURES, Keypoints, words
from tripline.keypoints.features import WORD_BITS, WORD_TABLES

_FIXED = 64.0  # points are stored as uint16 fixed point, 1/64 px
RECORD = np.dtype(
    [
        ("entry", "<i8"),
        ("n", "<u2"),
        ("w", "<u2"),
        ("h", "<u2"),
        ("_pad", "<u2"),
        ("pts", "<u2", (BANK_FEATURES, 2)),
        ("desc", "u1", (BANK_FEATURES, 32)),
    ]
)
_FILE = RECORDS = "records.bin"
# Candidates verified per upload and bank, and the least shared words for one.
CANDIDATES = 5
MIN_VOTES = 2


def _record(entry_id: int, kp: Keypoints) -> np.ndarray:
    kp = kp.spread(BANK_FEATURES)
    rec = np.zeros(1, dtype=RECORD)
    rec["entry"], rec["n"] = entry_id, len(kp)
    rec["w"], rec["h"] = kp.size
    rec["pts"][0, : len(kp)] = np.clip(np.round(kp.points * _FIXED), 0, 65535).astype(np.uint16)
    rec["desc"][0, : len(kp)] = kp.descriptors
    return rec


def append(folder: Path, entries: Sequence[tuple[int, Keypoints]]) -> None:
    """Durably append the keypoints of newly banked images."""
    append_records(folder, [record_bytes(e, kp) for e, kp in entries])


def record_bytes(entry_id: int, kp: Keypoints) -> bytes:
    """One banked image's keypoint record, as the database keeps it."""
    return _record(entry_id, kp).tobytes()


def append_records(folder: Path, records: Sequence[bytes], *, create: bool = False) -> None:
    """Durably append records made by record_bytes (``create``: make the
    file even when there are none, marking the folder as built)."""
    for r in records:
        if len(r) != RECORD.itemsize:
            raise ValueError(f"a keypoint record is {RECORD.itemsize} bytes, got {len(r)}")
    if not records and not create:
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _FILE
    _cut_torn_tail(path)
    with open(path, "ab") as fh:
        fh.write(b"".join(records))
        fh.flush()
        os.fsync(fh.fileno())


def entry_ids(folder: Path) -> np.ndarray:
    """The entry ids of the records in ``folder``."""
    path = Path(folder) / _FILE
    n = count(folder)
    if not n:
        return np.zeros(0, np.int64)
    return np.array(np.memmap(path, dtype=RECORD, mode="r", shape=(n,))["entry"], dtype=np.int64)


def count(folder: Path) -> int:
    path = Path(folder) / _FILE
    return path.stat().st_size // RECORD.itemsize if path.exists() else 0


def _cut_torn_tail(path: Path) -> None:
    if path.exists():
        size = path.stat().st_size
        if size % RECORD.itemsize:
            os.truncate(path, size - size % RECORD.itemsize)


def _postings(records: np.ndarray) -> np.ndarray:
    """(2, m) uint32: the inverted file's words and record rows, sorted by word."""
    n = len(records)
    if not n:
        return np.zeros((2, 0), np.uint32)
    counts = np.minimum(records["n"].astype(np.int64), INDEXED_FEATURES)
    desc = records["desc"][:, :INDEXED_FEATURES].reshape(-1, 32)
    valid = (np.arange(INDEXED_FEATURES)[None, :] < counts[:, None]).ravel()
    w = words(desc[valid])  # (m, tables)
    rows = np.repeat(np.arange(n, dtype=np.uint64), counts)
    # One sorted key per (word, record), unique: a record counts once per
    # word. Words are < 2**30 and rows < 2**34.
    keys = ((w.astype(np.uint64) << np.uint64(34)) | rows[:, None]).ravel()
    keys.sort()  # sort and compare neighbours: np.unique's hash path is ~4x slower here
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    posting_words = keys >> np.uint64(34)
    starts = np.flatnonzero(np.concatenate([[True], posting_words[1:] != posting_words[:-1]]))
    df = np.diff(np.append(starts, len(keys)))
    # Words shared by many banked images (flat or repeated textures) carry no
    # identity and cost the most postings: dropped.
    keep = np.repeat(df <= max(8, n // 300), df)
    # Postings sorted by word: a word's records are one searchsorted range,
    # with no per-word table (most words occur once).
    return np.stack([posting_words[keep], keys[keep] & np.uint64((1 << 34) - 1)]).astype(np.uint32)


class KeypointIndex:
    """Read-only view of a bank's keypoint records with their inverted file."""

    def __init__(self, records: np.ndarray, postings: np.ndarray | None = None):
        if len(records) >= 2**32:
            raise ValueError("a keypoint index holds fewer than 2**32 banked images")
        self._records = records
        postings = _postings(records) if postings is None else postings
        # Two contiguous rows: searchsorted on a strided view would copy it.
        self._postings = postings
        self._words, self._rows = postings[0], postings[1]

    def memory_bytes(self) -> int:
        """Bytes the inverted file holds in memory (the records stay on disk)."""
        return int(self._postings.nbytes)

    @classmethod
    def open(cls, folder: Path) -> KeypointIndex | None:
        """The bank's records with their inverted file, which is built once per
        number of records and kept beside them (memory-mapped when reused):
        61 s to build at 1M banked images, instant to reopen."""
        folder = Path(folder)
        path = folder / _FILE
        if not path.exists() or path.stat().st_size < RECORD.itemsize:
            return None
        count = path.stat().st_size // RECORD.itemsize
        records = np.memmap(path, dtype=RECORD, mode="r", shape=(count,))
        cache = folder / f"inverted-{count}-{WORD_BITS}x{WORD_TABLES}x{INDEXED_FEATURES}.npy"
        try:
            postings = np.load(cache, mmap_mode="r")
            if postings.ndim == 2 and postings.shape[0] == 2 and postings.dtype == np.uint32:
                return cls(records, postings)
        except (OSError, ValueError):
            pass  # missing, torn or foreign: rebuilt below
        index = cls(records)
        index._save(cache)
        return index

    def _save(self, cache: Path) -> None:
        """Write the inverted file atomically (one file, named by the record
        count it was built from, so concurrent openers never mix two) and
        drop older ones. Best effort: a read-only folder just means rebuilding."""
        try:
            with atomic_file(cache) as fh:
                np.save(fh, np.ascontiguousarray(self._postings))
            for old in cache.parent.glob("inverted-*.npy"):
                if old != cache:
                    old.unlink(missing_ok=True)
        except OSError:
            pass

    @classmethod
    def of(cls, entries: Sequence[tuple[int, Keypoints]]) -> KeypointIndex:
        """An in-memory index of (entry id, keypoints), as if appended in order."""
        empty = np.zeros(0, dtype=RECORD)
        return cls(np.concatenate([_record(e, kp) for e, kp in entries]) if entries else empty)

    def __len__(self) -> int:
        return len(self._records)

    def export(self) -> np.ndarray:
        """The records as an in-memory array (a backfill snapshot ships them)."""
        return np.array(self._records)

    def postings(self) -> int:
        return len(self._rows)

    def _ranges(self, kp: Keypoints) -> tuple[np.ndarray, np.ndarray]:
        """[start, end) posting ranges of the words ``kp`` shares with the bank."""
        if not len(self._words) or not len(kp):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        q = np.unique(words(kp.descriptors).ravel()).astype(np.uint32)
        lo = np.searchsorted(self._words, q, "left")
        hi = np.searchsorted(self._words, q, "right")
        hit = hi > lo
        return lo[hit], hi[hit]

    def touched(self, kp: Keypoints) -> int:
        """Postings a lookup of ``kp`` reads: what the lookup's cost grows with."""
        lo, hi = self._ranges(kp)
        return int((hi - lo).sum())

    def candidates(self, kp: Keypoints, limit: int = CANDIDATES) -> list[tuple[int, int]]:
        """(record row, shared words) of the banked images that share the most
        words with ``kp``, best first."""
        lo, hi = self._ranges(kp)
        if not len(lo):
            return []
        lens = hi - lo
        idx = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        rows, votes = np.unique(self._rows[idx], return_counts=True)
        ok = votes >= MIN_VOTES
        rows, votes = rows[ok], votes[ok]
        order = np.lexsort((rows, -votes))[:limit]
        return [(int(rows[i]), int(votes[i])) for i in order]

    def entry_id(self, row: int) -> int:
        return int(self._records["entry"][row])

    def keypoints(self, row: int) -> Keypoints:
        rec = self._records[row]
        n = int(rec["n"])
        return Keypoints(
            rec["pts"][:n].astype(np.float32) / _FIXED, np.array(rec["desc"][:n]), (int(rec["w"]), int(rec["h"]))
        )

    def close(self) -> None:
        # Dropping the references unmaps the files once no returned array uses them.
        self._records = np.zeros(0, dtype=RECORD)
        self._postings = np.zeros((2, 0), np.uint32)
        self._words, self._rows = self._postings[0], self._postings[1]
