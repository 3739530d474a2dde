"""Banks as users see them: the database rows (source of truth), and this
process's cache of their indexes (tripline.banks.indexes), kept in step with
the database's change log. Writes go to the database only; no write ever
needs an index lock, so a CLI change while a service runs cannot fail on one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tripline.banks import keypoints as bank_keypoints
from tripline.banks.indexes import SyncedIndexes, encode_regions
from tripline.banks.keypoints import KeypointIndex
from tripline.banks.matcher import LoadedBank, Matcher
from tripline.index import PDQIndex
from tripline.keypoints import Keypoints
from tripline.store import BankRow, Store

_CHUNK = 100_000


class BankError(ValueError):
    pass


@dataclass
class ImportResult:
    added: int
    duplicates: int
    by_type: dict[str, int]


class Banks:
    def __init__(self, store: Store, index_root: Path, *, mirror_limit: int = 0):
        self.store = store
        self.index_root = Path(index_root)
        # This process's private index cache (a slot under index_root).
        self.cache = SyncedIndexes(store, self.index_root, mirror_limit=mirror_limit)

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
        """Delete the bank; every process's cache drops its indexes when it
        applies the logged change."""
        self.get(name)
        self.store.delete_bank(name)

    # -- entries ---------------------------------------------------------
    def add(
        self,
        name: str,
        entries: Iterable[tuple[str, str, str | None]],
        regions: dict[str, Iterable[tuple[int, str]]] | None = None,
        keypoints: dict[str, Keypoints] | None = None,
    ) -> ImportResult:
        """Add validated (signal_type, value, note) entries, streaming in chunks.

        ``regions`` maps a PDQ value to the region hashes of its image,
        (code, hex) from tripline.normalise.bank_region_hashes: banks built from
        images (``bank add --image``) get them in the bank's regions index, for
        matching cropped, captioned and framed copies. Hash lists have none.
        ``keypoints`` likewise maps a PDQ value to its image's ORB keypoints
        (tripline.keypoints), stored in the bank's keypoint records. Both are
        kept in the database (bank_entry_features) beside the entry."""
        self.get(name)
        added = duplicates = 0
        by_type: dict[str, int] = {}
        features: list[tuple[int, bytes | None, bytes | None]] = []
        for chunk in _chunks(entries, _CHUNK):
            res = self.store.add_entries(name, chunk)
            added += len(res.added)
            duplicates += res.duplicates
            for entry_id, stype, value in res.added:
                by_type[stype] = by_type.get(stype, 0) + 1
                if stype != "pdq":
                    continue
                reg = regions.get(value) if regions else None
                kp = keypoints.get(value) if keypoints else None
                if reg or kp is not None:
                    features.append(
                        (
                            entry_id,
                            encode_regions(reg) if reg else None,
                            bank_keypoints.record_bytes(entry_id, kp) if kp is not None else None,
                        )
                    )
        if features:
            self.store.add_entry_features(name, features)
        return ImportResult(added, duplicates, by_type)

    def remove(self, name: str, signal_type: str, values: Iterable[str]) -> int:
        self.get(name)
        return len(self.store.remove_entries(name, signal_type, list(values)))

    def set_enabled(self, name: str, signal_type: str, values: Iterable[str], enabled: bool) -> int:
        self.get(name)
        return len(self.store.set_entries_enabled(name, signal_type, list(values), enabled))

    def export(self, name: str) -> Iterator[tuple[str, str, str | None]]:
        self.get(name)
        for e in self.store.iter_entries(name, enabled_only=False):
            yield e.signal_type, e.value, e.note

    # -- this process's index cache ----------------------------------------
    def sync(self, **kw) -> bool:
        """Apply the database changes this process has not applied yet."""
        return self.cache.sync(**kw)

    def lag(self) -> int:
        """Changes in the database not yet applied here (0: caught up); for
        readiness checks."""
        return self.cache.lag()

    def caught_up(self) -> bool:
        return self.cache.caught_up()

    def index(self, name: str) -> PDQIndex:
        """The bank's PDQ index, current with the database."""
        row = self.get(name)
        self.sync()
        return self.cache.pdq(row)

    reader = index  # within a process the cached index is always the current one

    def regions_index(self, name: str) -> PDQIndex:
        """The bank's regions index (tripline.normalise): region hashes of
        the enabled entries banked from images."""
        row = self.get(name)
        self.sync()
        return self.cache.regions(row)

    def keypoints_reader(self, name: str) -> KeypointIndex | None:
        row = self.get(name)
        self.sync()
        return self.cache.keypoints(row)

    def rebuild_index(self, name: str) -> int:
        """Rebuild the bank's indexes from the database, here and (through
        the change log) in every other process."""
        row = self.get(name)
        self.store.log_change(name, "reindex")
        self.sync()
        return len(self.cache.pdq(row))

    def close(self) -> None:
        self.cache.close()

    def stats(self, name: str) -> dict:
        row = self.get(name)
        self.sync()
        regions = self.cache.regions(row)
        return {
            "bank": row.name,
            "kind": row.kind,
            "enabled": row.enabled,
            "pdq_threshold": row.pdq_threshold,
            "pdq_quality_min": row.pdq_quality_min,
            "entries": self.store.count_entries(name),
            "index": self.cache.pdq(row).stats(),
            "regions_index": regions.stats() if len(regions) else None,
            "keypoint_records": len(self.cache.keypoints(row) or ()),
            "change_seq": self.cache.seq,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }

    # -- matching --------------------------------------------------------
    def matcher(self, names: Iterable[str] | None = None, *, sync: bool = True) -> Matcher:
        """A matcher over the named banks (default: every enabled bank), on
        this process's cached indexes (which it does not own: closing it
        leaves them open). ``sync=False``: as the cache stands."""
        if sync:
            self.sync()
        rows = [self.get(n) for n in names] if names else [b for b in self.store.list_banks() if b.enabled]
        loaded = []
        for row in rows:
            if not row.enabled:
                raise BankError(f"bank {row.name!r} is disabled; enable it or leave it out")
            index = self.cache.pdq(row)
            if not len(index):
                loaded.append(LoadedBank(row.name, row.kind, row.pdq_threshold, row.pdq_quality_min, None))
                continue
            regions = self.cache.regions(row)
            kps = self.cache.keypoints(row)
            loaded.append(
                LoadedBank(
                    row.name,
                    row.kind,
                    row.pdq_threshold,
                    row.pdq_quality_min,
                    index,
                    regions if len(regions) else None,
                    kps,
                )
            )
        return Matcher(loaded, self.store.exact_lookup, self.store.entry_values, owns_indexes=False)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for it in items:
        chunk.append(it)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
