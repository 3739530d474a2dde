"""A picklable copy of the banks a backfill matches against.

Scan workers share the machine's database and mmap'd PDQ index files. Batch
workers may run on other machines, so the driver captures the selected banks
once (PDQ codes and ids, region hashes, keypoint records, exact MD5/SHA-256
values, video frame indexes, and the entry values that explain hits) into
numpy arrays. On Ray the
snapshot is put into the object store once (``ray.put``) and each worker actor
fetches it once in its constructor, then rebuilds the PDQ indexes in a local
temporary folder: the banks cross the network once per node, and are indexed
once per worker, never once per task.

Matching against a snapshot gives exactly what ``Banks.matcher()`` gives: the
bank selection, thresholds and allow-lists come from the same code, only the
lookups are served from memory instead of the database.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tripline.banks import Banks, LoadedBank, Matcher
from tripline.banks.keypoints import KeypointIndex
from tripline.index import PDQIndex

_EXACT_TYPES = ("md5", "sha256")


@dataclass
class _BankSnap:
    name: str
    kind: str
    pdq_threshold: int
    pdq_quality_min: int
    pdq: tuple[np.ndarray, np.ndarray] | None
    regions: tuple[np.ndarray, np.ndarray] | None
    keypoints: np.ndarray | None = None  # the bank's keypoint records (tripline.banks.keypoints)


@dataclass
class _VideoSnap:
    name: str
    kind: str
    config: object
    index: tuple[np.ndarray, np.ndarray]
    ids: np.ndarray
    entry: np.ndarray
    timestamp: np.ndarray
    counts: np.ndarray
    usable_per_entry: dict[int, int]


def _value_array(values: list[str]) -> np.ndarray:
    return np.asarray([v.encode() for v in values], dtype=object).astype("S") if values else np.zeros(0, "S1")


@dataclass
class BankSnapshot:
    banks: list[_BankSnap]
    videos: list[_VideoSnap]
    # exact hashes, sorted by (type, value): parallel arrays
    exact_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    exact_value: np.ndarray = field(default_factory=lambda: np.zeros(0, "S1"))
    exact_bank: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    exact_entry: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bank_names: list[str] = field(default_factory=list)
    # entry id -> canonical value (explains PDQ and video hits), sorted by id
    value_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    value_vals: np.ndarray = field(default_factory=lambda: np.zeros(0, "S1"))

    # -- capture (driver) ----------------------------------------------------
    @classmethod
    def capture(cls, banks: Banks, names: list[str] | None = None) -> BankSnapshot:
        from tripline.banks.video import VideoBanks

        matcher = banks.matcher(names)
        try:
            snaps = [
                _BankSnap(
                    b.name,
                    b.kind,
                    b.pdq_threshold,
                    b.pdq_quality_min,
                    b.index.export() if b.index is not None else None,
                    b.regions.export() if b.regions is not None else None,
                    b.keypoints.export() if b.keypoints is not None else None,
                )
                for b in matcher.banks
            ]
        finally:
            matcher.close()
        vmatcher = VideoBanks.of(banks).matcher(names)
        try:
            videos = [
                _VideoSnap(
                    v.name,
                    v.kind,
                    v.config,
                    v.index.export(),
                    v.ids,
                    v.entry,
                    v.timestamp,
                    v.counts,
                    dict(v.usable_per_entry),
                )
                for v in vmatcher.banks
            ]
        finally:
            vmatcher.close()
        bank_names = sorted({s.name for s in snaps} | {v.name for v in videos})
        ex_t, ex_v, ex_b, ex_e = [], [], [], []
        val_ids, val_vals = [], []
        for bi, name in enumerate(bank_names):
            for e in banks.store.iter_entries(name, enabled_only=True):
                val_ids.append(e.id)
                val_vals.append(e.value)
                if e.signal_type in _EXACT_TYPES:
                    ex_t.append(_EXACT_TYPES.index(e.signal_type))
                    ex_v.append(e.value)
                    ex_b.append(bi)
                    ex_e.append(e.id)
        snap = cls(snaps, videos, bank_names=bank_names)
        if ex_v:
            t = np.asarray(ex_t, np.int8)
            v = _value_array(ex_v)
            order = np.lexsort((v, t))
            snap.exact_type, snap.exact_value = t[order], v[order]
            snap.exact_bank = np.asarray(ex_b, np.int32)[order]
            snap.exact_entry = np.asarray(ex_e, np.int64)[order]
        if val_ids:
            ids = np.asarray(val_ids, np.int64)
            order = np.argsort(ids, kind="stable")
            snap.value_ids, snap.value_vals = ids[order], _value_array(val_vals)[order]
        return snap

    @property
    def nbytes(self) -> int:
        n = sum(
            a.nbytes
            for a in (
                self.exact_type,
                self.exact_value,
                self.exact_bank,
                self.exact_entry,
                self.value_ids,
                self.value_vals,
            )
        )
        for b in self.banks:
            for pair in (b.pdq, b.regions):
                if pair is not None:
                    n += pair[0].nbytes + pair[1].nbytes
            if b.keypoints is not None:
                n += b.keypoints.nbytes
        for v in self.videos:
            n += v.index[0].nbytes + v.index[1].nbytes + v.ids.nbytes + v.entry.nbytes
        return n

    # -- lookups (worker) ----------------------------------------------------
    def exact_lookup(self, signal_type: str, values: list[str], bank_names: list[str]) -> list[tuple[str, int, str]]:
        if not values or not len(self.exact_value):
            return []
        t = _EXACT_TYPES.index(signal_type)
        lo = np.searchsorted(self.exact_type, t, "left")
        hi = np.searchsorted(self.exact_type, t, "right")
        vals = self.exact_value[lo:hi]
        wanted = set(bank_names)
        out = []
        for value in dict.fromkeys(values):
            key = value.encode()
            i = lo + int(np.searchsorted(vals, key, "left"))
            while i < hi and self.exact_value[i] == key:
                bank = self.bank_names[int(self.exact_bank[i])]
                if bank in wanted:
                    out.append((bank, int(self.exact_entry[i]), value))
                i += 1
        return out

    def entry_values(self, entry_ids: list[int]) -> dict[int, str]:
        if not entry_ids or not len(self.value_ids):
            return {}
        ids = np.asarray(entry_ids, np.int64)
        pos = np.clip(np.searchsorted(self.value_ids, ids), 0, len(self.value_ids) - 1)
        hit = self.value_ids[pos] == ids
        return {int(i): self.value_vals[p].decode() for i, p, h in zip(ids, pos, hit, strict=True) if h}

    # -- opening (worker) ----------------------------------------------------
    def open(self, workdir: str | Path | None = None) -> OpenedBanks:
        """Build the indexes in a private temporary folder and return matchers."""
        from tripline.banks.video import VideoMatcher, _LoadedVideoBank

        root = Path(tempfile.mkdtemp(prefix="tripline-banks-", dir=workdir))

        def build(sub: str, pair) -> PDQIndex | None:
            if pair is None or not len(pair[0]):
                return None
            PDQIndex.build(root / sub, pair[0], pair[1]).close()
            return PDQIndex.open(root / sub, readonly=True)

        loaded = []
        for i, b in enumerate(self.banks):
            index = build(f"b{i}", b.pdq)
            regions = build(f"r{i}", b.regions) if index is not None else None
            kps = KeypointIndex(b.keypoints) if index is not None and b.keypoints is not None else None
            loaded.append(LoadedBank(b.name, b.kind, b.pdq_threshold, b.pdq_quality_min, index, regions, kps))
        videos = [
            _LoadedVideoBank(
                v.name,
                v.kind,
                v.config,
                build(f"v{i}", v.index),
                v.ids,
                v.entry,
                v.timestamp,
                v.counts,
                v.usable_per_entry,
            )
            for i, v in enumerate(self.videos)
        ]
        return OpenedBanks(
            Matcher(loaded, self.exact_lookup, self.entry_values), VideoMatcher(videos, self.entry_values), root
        )


@dataclass
class OpenedBanks:
    matcher: Matcher
    video_matcher: object
    root: Path

    def close(self) -> None:
        self.matcher.close()
        self.video_matcher.close()
        shutil.rmtree(self.root, ignore_errors=True)
