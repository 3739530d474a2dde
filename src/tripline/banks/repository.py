"""Banks as users see them: the database rows (source of truth) kept in step
with one on-disk PDQ index per bank."""
from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tripline.banks import keypoints as bank_keypoints
from tripline.banks.indexes import SyncedIndexes
from tripline.banks.keypoints import KeypointIndex
from tripline.banks.matcher import LoadedBank, Matcher
from tripline.index import PDQIndex, hex_to_codes
from tripline.keypoints import Keypoints
from tripline.normalise.variants import REGION_SLOTS, region_id
from tripline.store import BankRow, Store

# Above this many new PDQ entries a bulk rebuild beats incremental adds.
_BULK_REBUILD = 50_000
_CHUNK = 100_000


class BankError(ValueError):
    pass


@dataclass
class ImportResult:
    added: int
    duplicates: int
    by_type: dict[str, int]


class Banks:
    def __init__(self, store: Store, index_root: Path):
        self.store = store
        self.index_root = Path(index_root)
        self._pdq = SyncedIndexes(
            self._index_dir, self._expected_pdq,
            lambda name: ((e.id, e.value) for e in store.iter_entries(name, signal_type="pdq", enabled_only=True)),
        )
        self._region_writers: dict[str, PDQIndex] = {}

    # -- bank rows -------------------------------------------------------
    def create(self, name: str, **fields) -> BankRow:
        if fields.get("kind", "match") not in ("match", "allow"):
            raise BankError("kind must be 'match' or 'allow'")
        return self.store.create_bank(name, **fields)

    def get(self, name: str) -> BankRow:
        row = self.store.get_bank(name)
        if row is None:
            known = ", ".join(b.name for b in self.store.list_banks()) or "none yet"
            raise BankError(f"no bank named {name!r} (banks: {known})")
        return row

    def update(self, name: str, **fields) -> BankRow:
        self.get(name)
        return self.store.update_bank(name, **fields)

    def delete(self, name: str) -> None:
        row = self.get(name)
        old = self._region_writers.pop(name, None)
        if old is not None:
            old.close()
        self.store.delete_bank(name)
        self._pdq.drop(row)
        shutil.rmtree(self._regions_dir(row), ignore_errors=True)
        shutil.rmtree(self._keypoints_dir(row), ignore_errors=True)
        # The bank's video frame index (tripline.banks.video) sits beside it.
        shutil.rmtree(self._index_dir(row).with_name(self._index_dir(row).name + ".vpdq"), ignore_errors=True)

    # -- entries ---------------------------------------------------------
    def add(
        self, name: str, entries: Iterable[tuple[str, str, str | None]],
        regions: dict[str, Iterable[tuple[int, str]]] | None = None,
        keypoints: dict[str, Keypoints] | None = None,
    ) -> ImportResult:
        """Add validated (signal_type, value, note) entries, streaming in chunks.

        ``regions`` maps a PDQ value to the region hashes of its image,
        (code, hex) from tripline.normalise.bank_region_hashes: banks built from
        images (``bank add --image``) get them in the bank's regions index, for
        matching cropped, captioned and framed copies. Hash lists have none.
        ``keypoints`` likewise maps a PDQ value to its image's ORB keypoints
        (tripline.keypoints), stored in the bank's keypoint records."""
        self.get(name)
        added = duplicates = 0
        by_type: dict[str, int] = {}
        pending_ids: list[int] = []
        pending_hex: list[str] = []
        index = self.index(name)
        region_ids: list[int] = []
        region_hex: list[str] = []
        new_keypoints: list[tuple[int, Keypoints]] = []
        bulk = False
        for chunk in _chunks(entries, _CHUNK):
            res = self.store.add_entries(name, chunk)
            added += len(res.added)
            duplicates += res.duplicates
            for entry_id, stype, value in res.added:
                by_type[stype] = by_type.get(stype, 0) + 1
                if stype == "pdq" and regions and value in regions:
                    for code, hexval in regions[value]:
                        region_ids.append(region_id(entry_id, code))
                        region_hex.append(hexval)
                if stype == "pdq" and keypoints and value in keypoints:
                    new_keypoints.append((entry_id, keypoints[value]))
                if stype == "pdq" and not bulk:
                    pending_ids.append(entry_id)
                    pending_hex.append(value)
            if len(pending_ids) > _BULK_REBUILD:
                bulk, pending_ids, pending_hex = True, [], []
        if bulk:
            self.rebuild_index(name)
        elif pending_ids:
            index.add(np.asarray(pending_ids, dtype=np.int64), hex_to_codes(pending_hex))
        if region_ids:
            self.regions_index(name).add(np.asarray(region_ids, dtype=np.int64), hex_to_codes(region_hex))
        if new_keypoints:
            bank_keypoints.append(self._keypoints_dir(self.get(name)), new_keypoints)
        return ImportResult(added, duplicates, by_type)

    def remove(self, name: str, signal_type: str, values: Iterable[str]) -> int:
        self.get(name)
        gone = self.store.remove_entries(name, signal_type, list(values))
        if signal_type == "pdq" and gone:
            ids = np.asarray([i for i, _ in gone], dtype=np.int64)
            self.index(name).remove(ids)
            self._remove_regions(name, ids)
        return len(gone)

    def _remove_regions(self, name: str, entry_ids: np.ndarray) -> None:
        row = self.get(name)
        if name not in self._region_writers and not self._regions_dir(row).exists():
            return
        rids = (entry_ids[:, None] * REGION_SLOTS + np.arange(REGION_SLOTS)[None, :]).ravel()
        self.regions_index(name).remove(rids)

    def set_enabled(self, name: str, signal_type: str, values: Iterable[str], enabled: bool) -> int:
        self.get(name)
        changed = self.store.set_entries_enabled(name, signal_type, list(values), enabled)
        if signal_type == "pdq" and changed:
            ids = np.asarray([i for i, _ in changed], dtype=np.int64)
            index = self.index(name)
            if enabled:
                index.add(ids, hex_to_codes([v for _, v in changed]))
            else:
                index.remove(ids)
        return len(changed)

    def export(self, name: str) -> Iterator[tuple[str, str, str | None]]:
        self.get(name)
        for e in self.store.iter_entries(name, enabled_only=False):
            yield e.signal_type, e.value, e.note

    # -- index -----------------------------------------------------------
    def _index_dir(self, row: BankRow) -> Path:
        # The id keeps a re-created bank of the same name from inheriting files.
        return self.index_root / f"{row.id}-{row.name}"

    def _regions_dir(self, row: BankRow) -> Path:
        return self._index_dir(row).with_name(self._index_dir(row).name + ".regions")

    def _keypoints_dir(self, row: BankRow) -> Path:
        return self._index_dir(row).with_name(self._index_dir(row).name + ".keypoints")

    def keypoints_reader(self, name: str) -> KeypointIndex | None:
        return KeypointIndex.open(self._keypoints_dir(self.get(name)))

    def regions_index(self, name: str) -> PDQIndex:
        """The bank's regions index (tripline.normalise) opened for writing.
        It has no database copy (the database keeps each entry's plain PDQ
        only, as exchanged); a disabled entry's regions stay and the matcher
        ignores them, a removed entry's regions are removed."""
        if name not in self._region_writers:
            self._region_writers[name] = PDQIndex.open(self._regions_dir(self.get(name)))
        return self._region_writers[name]

    def regions_reader(self, name: str) -> PDQIndex | None:
        row = self.get(name)
        path = self._regions_dir(row)
        if not path.exists():
            return None
        index = PDQIndex.open(path, readonly=True)
        if not len(index):
            index.close()
            return None
        return index

    def _expected_pdq(self, name: str) -> int:
        return self.store.count_entries(name).get("pdq", {}).get("enabled", 0)

    def index(self, name: str) -> PDQIndex:
        """The bank's PDQ index opened for writing (one writer per process,
        kept open until close()), rebuilt from the database if it drifted."""
        return self._pdq.writer(self.get(name))

    def reader(self, name: str) -> PDQIndex:
        """A read-only view for matching; it takes no lock, so scans run while
        another process updates the bank."""
        return self._pdq.reader(self.get(name))

    def rebuild_index(self, name: str) -> int:
        return len(self._pdq.rebuild(self.get(name)))

    def close(self) -> None:
        self._pdq.close()
        for index in self._region_writers.values():
            index.close()
        self._region_writers.clear()

    def stats(self, name: str) -> dict:
        row = self.get(name)
        istats = self.index(name).stats()
        return {
            "bank": row.name,
            "kind": row.kind,
            "enabled": row.enabled,
            "pdq_threshold": row.pdq_threshold,
            "pdq_quality_min": row.pdq_quality_min,
            "entries": self.store.count_entries(name),
            "index": istats,
            "regions_index": self.regions_index(name).stats() if self._regions_dir(row).exists() else None,
            "keypoint_records": bank_keypoints.count(self._keypoints_dir(row)),
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }

    # -- matching --------------------------------------------------------
    def matcher(self, names: Iterable[str] | None = None) -> Matcher:
        """A matcher over the named banks (default: every enabled bank)."""
        rows = [self.get(n) for n in names] if names else [b for b in self.store.list_banks() if b.enabled]
        loaded = []
        for row in rows:
            if not row.enabled:
                raise BankError(f"bank {row.name!r} is disabled; enable it or leave it out")
            index = self.reader(row.name)
            if not len(index):
                index.close()
                index = None
            regions = self.regions_reader(row.name) if index is not None else None
            kps = self.keypoints_reader(row.name) if index is not None else None
            loaded.append(LoadedBank(row.name, row.kind, row.pdq_threshold, row.pdq_quality_min, index, regions, kps))
        return Matcher(loaded, self.store.exact_lookup, self.store.entry_values)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for it in items:
        chunk.append(it)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
