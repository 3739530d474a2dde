"""Video banks: vPDQ signals stored beside a bank's other entries.

A banked video is one ``bank_entries`` row (signal type ``vpdq``, value a
digest of its frame list, so the same signal imported twice is one entry)
plus its frames in ``video_frames``. Every frame PDQ also goes into a
per-bank *frame index* (a PDQIndex whose ids are frame row ids), so matching
a video is one radius search per bank rather than a comparison with every
banked video. Like the image index, the frame index lives in the process's
index cache (tripline.banks.indexes) and follows the database's change log.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from tripline.banks.matcher import Match, _apply_allow_lists
from tripline.banks.repository import BankError, Banks, ImportResult
from tripline.index import PDQIndex, hex_to_codes
from tripline.video.hashing import Frame, from_te_signal, to_te_signal
from tripline.video.matching import (
    DEFAULT_BANK_MATCH_PCT,
    DEFAULT_QUERY_MATCH_PCT,
    VideoMatchConfig,
    frame_hits,
    segments,
    usable_positions,
)

VPDQ = "vpdq"
# python-threatexchange / HMA names for the vPDQ signal type.
VPDQ_ALIASES = frozenset({"vpdq", "video_vpdq", "hash_vpdq"})


def signal_id(frames: Sequence[Frame]) -> str:
    """Stable identity of a vPDQ signal: SHA-256 of its canonical TE form."""
    return hashlib.sha256(to_te_signal(list(frames)).encode()).hexdigest()


@dataclass
class VideoMatch(Match):
    """A Match (so scan, allow-lists and the store treat it like any other)
    with the video evidence: both percentages and the matching segments."""

    query_match_pct: float = 0.0
    bank_match_pct: float = 0.0
    query_frames: int = 0  # distinct usable query frames
    bank_frames: int = 0  # distinct usable frames of the banked video
    matched_frames: int = 0  # of the query's
    segments: list[dict] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)


@dataclass
class _LoadedVideoBank:
    name: str
    kind: str
    config: VideoMatchConfig
    index: PDQIndex
    ids: np.ndarray  # frame ids, sorted
    entry: np.ndarray  # entry id per frame
    timestamp: np.ndarray
    counts: np.ndarray  # frame counts toward percentages (distinct, quality ok)
    usable_per_entry: dict[int, int]


class VideoBanks:
    """vPDQ entries of the banks managed by ``banks`` (same store, same rows)."""

    _shared: weakref.WeakKeyDictionary[Banks, VideoBanks] = weakref.WeakKeyDictionary()

    def __init__(self, banks: Banks):
        self.banks = banks
        self.store = banks.store

    @classmethod
    def of(cls, banks: Banks) -> VideoBanks:
        """The VideoBanks of ``banks``, shared (it holds no state of its own:
        the frame indexes are in ``banks``' cache)."""
        vb = cls._shared.get(banks)
        if vb is None:
            vb = cls._shared[banks] = cls(banks)
        return vb

    # -- thresholds -------------------------------------------------------
    def config(self, name: str) -> VideoMatchConfig:
        row = self.banks.get(name)
        q, b = self.store.get_video_settings(name) or (DEFAULT_QUERY_MATCH_PCT, DEFAULT_BANK_MATCH_PCT)
        return VideoMatchConfig(q, b, row.pdq_threshold, row.pdq_quality_min)

    def set_thresholds(
        self, name: str, *, query_match_pct: float | None = None, bank_match_pct: float | None = None
    ) -> VideoMatchConfig:
        current = self.config(name)
        self.store.set_video_settings(
            name,
            current.query_match_pct if query_match_pct is None else query_match_pct,
            current.bank_match_pct if bank_match_pct is None else bank_match_pct,
        )
        return self.config(name)

    # -- entries ----------------------------------------------------------
    def add(self, name: str, videos: Iterable[tuple[Sequence[Frame], str | None]]) -> ImportResult:
        """Bank vPDQ signals given as (frames, note)."""
        self.banks.get(name)
        frames_by_value: dict[str, Sequence[Frame]] = {}
        entries = []
        for frames, note in videos:
            if not frames:
                raise BankError("a vPDQ signal needs at least one frame")
            value = signal_id(frames)
            frames_by_value.setdefault(value, frames)
            entries.append((VPDQ, value, note))
        res = self.store.add_entries(name, entries)
        by_entry = {
            entry_id: [(f.pdq, f.quality, f.timestamp) for f in frames_by_value[value]]
            for entry_id, _, value in res.added
        }
        self.store.add_video_frames(name, by_entry)
        return ImportResult(len(res.added), res.duplicates, {VPDQ: len(res.added)} if res.added else {})

    def add_video(self, name: str, data: bytes, note: str | None = None, **hash_options) -> ImportResult:
        """Hash a video file's bytes (1 frame per second by default) and bank it."""
        from tripline.video import hash_video

        frames = hash_video(data, **hash_options)
        return self.add(name, [(frames, note)])

    def remove(self, name: str, values: Iterable[str]) -> int:
        return self.banks.remove(name, VPDQ, values)

    def set_enabled(self, name: str, values: Iterable[str], enabled: bool) -> int:
        return self.banks.set_enabled(name, VPDQ, values, enabled)

    def delete(self, name: str) -> None:
        """Delete the bank (all its entries); caches drop its frame index."""
        self.banks.delete(name)

    def frames(self, name: str, entry_ids: list[int] | None = None) -> dict[int, list[Frame]]:
        out: dict[int, list[Frame]] = {}
        for r in self.store.iter_video_frames(name, enabled_only=False, entry_ids=entry_ids):
            out.setdefault(r.entry_id, []).append((r.position, Frame(r.pdq, r.quality, r.timestamp)))
        return {e: [f for _, f in sorted(fs, key=lambda x: x[0])] for e, fs in out.items()}

    # -- python-threatexchange signal files ---------------------------------
    def import_tx(self, name: str, lines: Iterable[str]) -> tuple[ImportResult, list[tuple[int, str]]]:
        """Import the vPDQ lines of a python-threatexchange signal file
        (``vpdq <json list> [metadata]``); other lines are left to
        ``tripline bank import``. Returns the result and (line, reason) errors."""
        bad: list[tuple[int, str]] = []

        def videos():
            for lineno, line in enumerate(lines, 1):
                line = line.strip().lstrip("\ufeff")
                if not line or line.startswith("#"):
                    continue
                stype, _, rest = line.partition(" ")
                if stype.lower() not in VPDQ_ALIASES:
                    continue
                try:
                    # The signal is JSON with spaces inside; metadata may follow it.
                    signal, end = json.JSONDecoder().raw_decode(rest.strip())
                    frames = from_te_signal(json.dumps(signal))
                    if not frames:
                        raise ValueError("empty vPDQ signal")
                except ValueError as exc:
                    bad.append((lineno, str(exc)[:200]))
                    continue
                note = rest.strip()[end:].strip() or None
                yield frames, note

        return self.add(name, videos()), bad

    def export_tx(self, name: str) -> Iterator[str]:
        self.banks.get(name)
        entry_ids = [e.id for e in self.store.iter_entries(name, signal_type=VPDQ, enabled_only=False)]
        for i in range(0, len(entry_ids), 1000):
            chunk = entry_ids[i : i + 1000]
            frames = self.frames(name, chunk)
            for e in chunk:
                if e in frames:
                    yield f"{VPDQ} {to_te_signal(frames[e])}\n"

    # -- frame index -------------------------------------------------------
    def index(self, name: str) -> PDQIndex:
        """The bank's frame index, current with the database."""
        row = self.banks.get(name)
        self.banks.sync()
        return self.banks.cache.frames(row)

    reader = index

    def rebuild_index(self, name: str) -> int:
        self.banks.rebuild_index(name)
        return len(self.index(name))

    def close(self) -> None:
        pass  # the frame indexes belong to the Banks' cache

    def stats(self, name: str) -> dict:
        return {
            "bank": name,
            "videos": self.store.count_entries(name).get(VPDQ, {"enabled": 0, "disabled": 0}),
            "frames": self.store.count_video_frames(name),
            "config": self.config(name).__dict__,
            "index": self.index(name).stats(),
        }

    # -- matching ------------------------------------------------------------
    def matcher(self, names: Iterable[str] | None = None, *, sync: bool = True) -> VideoMatcher:
        """A matcher over the named banks' videos (default: every enabled bank);
        banks without videos are skipped."""
        if sync:
            self.banks.sync()
        rows = [self.banks.get(n) for n in names] if names else [b for b in self.store.list_banks() if b.enabled]
        loaded = []
        for row in rows:
            if not row.enabled:
                raise BankError(f"bank {row.name!r} is disabled; enable it or leave it out")
            config = self.config(row.name)
            ids, entry, ts, counts = [], [], [], []
            for r in self.store.iter_video_frames(row.name, enabled_only=True):
                ids.append(r.id)
                entry.append(r.entry_id)
                ts.append(r.timestamp)
                counts.append(not r.duplicate and r.quality >= config.quality_min)
            if not ids:
                continue
            order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
            entry_a = np.asarray(entry, dtype=np.int64)[order]
            counts_a = np.asarray(counts, dtype=bool)[order]
            usable = np.bincount(np.unique(entry_a, return_inverse=True)[1], weights=counts_a)
            loaded.append(
                _LoadedVideoBank(
                    row.name,
                    row.kind,
                    config,
                    self.banks.cache.frames(row),
                    np.asarray(ids, dtype=np.int64)[order],
                    entry_a,
                    np.asarray(ts, dtype=np.float64)[order],
                    counts_a,
                    dict(zip(np.unique(entry_a).tolist(), usable.astype(int).tolist(), strict=True)),
                )
            )
        return VideoMatcher(loaded, self.store.entry_values, owns_indexes=False)


class VideoMatcher:
    """Matches scan records carrying ``vpdq`` frames against loaded video banks."""

    def __init__(self, banks: list[_LoadedVideoBank], entry_values, *, owns_indexes: bool = True):
        self.banks = banks
        self._entry_values = entry_values
        self._owns_indexes = owns_indexes  # False: a process's shared cache (VideoBanks.matcher)

    def close(self) -> None:
        if not self._owns_indexes:
            return
        for b in self.banks:
            b.index.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def match(self, records: Sequence[dict]) -> list[list[VideoMatch]]:
        results: list[list[VideoMatch]] = [[] for _ in records]
        queries = [(i, record_frames(r)) for i, r in enumerate(records)]
        queries = [(i, fs) for i, fs in queries if fs]
        if not queries or not self.banks:
            return results
        for bank in self.banks:
            self._match_bank(bank, queries, results)
        for found in results:
            found.sort(key=lambda m: (-m.query_match_pct, m.bank, m.entry_id))
        return results

    def _match_bank(self, bank: _LoadedVideoBank, queries, results) -> None:
        cfg = bank.config
        owner, hexes = [], []
        usable_n = {}
        for qi, (_i, frames) in enumerate(queries):
            pos = usable_positions(frames, cfg.quality_min)
            usable_n[qi] = len(pos)
            owner += [qi] * len(pos)
            hexes += [frames[p].pdq for p in pos]
        if not hexes:
            return
        hits = bank.index.search(hex_to_codes(hexes), cfg.distance)
        # (query, entry) -> {query hash: (distance, bank ts)} and the bank frames hit
        best: dict[tuple[int, int], dict[str, tuple[int, float]]] = {}
        bank_hit: dict[tuple[int, int], set[int]] = {}
        for row, (ids, dists) in enumerate(hits):
            if not len(ids):
                continue
            at = np.minimum(np.searchsorted(bank.ids, ids), len(bank.ids) - 1)
            # Frames added to the index after this matcher loaded are skipped:
            # their metadata is not here, and the next matcher will see them.
            keep = (bank.ids[at] == ids) & bank.counts[at]
            for p, d in zip(at[keep].tolist(), dists[keep].tolist(), strict=True):
                key = (owner[row], int(bank.entry[p]))
                h = hexes[row]
                cur = best.setdefault(key, {}).get(h)
                if cur is None or d < cur[0]:
                    best[key][h] = (int(d), float(bank.timestamp[p]))
                bank_hit.setdefault(key, set()).add(p)
        if not best:
            return
        values = self._entry_values(sorted({e for _, e in best}))
        for (qi, entry_id), per_hash in best.items():
            i, frames = queries[qi]
            q_pct = 100.0 * len(per_hash) / usable_n[qi]
            b_total = bank.usable_per_entry.get(entry_id, 0)
            b_pct = 100.0 * len(bank_hit[(qi, entry_id)]) / b_total if b_total else 0.0
            if not cfg.accepts(q_pct, b_pct):
                continue
            results[i].append(
                VideoMatch(
                    bank.name,
                    bank.kind,
                    VPDQ,
                    entry_id,
                    values.get(entry_id, ""),
                    min(d for d, _ in per_hash.values()),
                    "original",
                    query_match_pct=round(q_pct, 2),
                    bank_match_pct=round(b_pct, 2),
                    query_frames=usable_n[qi],
                    bank_frames=b_total,
                    matched_frames=len(per_hash),
                    segments=[s.to_dict() for s in segments(frames, per_hash, cfg.quality_min)],
                    frames=frame_hits(frames, per_hash, cfg.quality_min),
                )
            )


def record_frames(record: dict) -> list[Frame]:
    """The vPDQ frames a scan record carries (see tripline.video.process_video_item)."""
    v = record.get("vpdq")
    if not isinstance(v, dict) or not v.get("frames"):
        return []
    return [Frame(h, int(q), float(t)) for h, q, t in v["frames"]]


def combine(found: list[Match], video_found: list[VideoMatch]) -> list[Match]:
    """One item's image/exact matches plus its video matches, with allow-lists
    applied across both (an allow-listed video suppresses its MD5 hit too)."""
    out = list(found) + list(video_found)
    _apply_allow_lists(out)
    out.sort(key=lambda m: (m.suppressed, m.distance, m.bank, m.entry_id))
    return out


def match_video(
    records: Sequence[dict], banks: Banks | VideoMatcher, bank_names: list[str] | None = None
) -> list[list[VideoMatch]]:
    """Video matches per record. Pass a VideoMatcher to reuse loaded banks
    across batches; a Banks opens (and closes) one for this call."""
    if isinstance(banks, VideoMatcher):
        return banks.match(records)
    with VideoBanks.of(banks).matcher(bank_names) as m:
        return m.match(records)
