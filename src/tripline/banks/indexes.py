"""Each process's private copy of the banks' indexes, kept in step with the
database's bank change log (docs/consistency.md).

The database is the source of truth. Every bank change commits with a row in
``bank_changes`` (tripline.store.log_bank_change); a process applies the
changes after the last seq it applied, as deltas: the entries a change names
are reconciled to their current database state (enabled and present: added
to the index, otherwise removed), which is idempotent, so replaying a change
after a crash is harmless and no count or timestamp heuristics are needed.

The folder is a cache, one *slot* per process: ``<root>/slot-<k>/`` is taken
with an exclusive flock for the process's lifetime (the first free slot
wins), so no process ever needs another's index lock, and a restarted process
reuses a slot and only applies what it missed. ``STATE.json`` in the slot
holds the applied seq; a bank's folder that is missing or unreadable is
rebuilt from the database; deleting the whole folder loses nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tripline.banks import keypoints as bank_keypoints
from tripline.banks.keypoints import KeypointIndex
from tripline.durable import atomic_write
from tripline.index import PDQIndex, hex_to_codes
from tripline.normalise.variants import REGION_SLOTS
from tripline.store import BankRow, ChangeRow, Store

log = logging.getLogger(__name__)

STATE = "STATE.json"
_FORMAT = 1
_CHUNK = 100_000
# Changes read per query, and entry ids reconciled per step: a 1M-hash import
# is applied in steps, and whoever holds the caller's lock gives it up between them.
_CHANGE_BATCH = 200
_STEP_ENTRIES = 250_000
_META_OPS = frozenset({"create", "update", "enable", "disable", "video_settings"})
_REGION = 33  # bytes per stored region hash: code, then the 32-byte PDQ


def encode_regions(regions: Iterable[tuple[int, str]]) -> bytes:
    """Region hashes of a banked image ((code, hex) pairs) as stored in the database."""
    return b"".join(bytes([code]) + bytes.fromhex(hx) for code, hx in regions)


def decode_regions(entry_id: int, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(region ids, codes) of one entry's stored region hashes."""
    a = np.frombuffer(blob, dtype=np.uint8).reshape(-1, _REGION)
    return entry_id * REGION_SLOTS + a[:, 0].astype(np.int64), np.ascontiguousarray(a[:, 1:])


def _region_ids(entry_ids: np.ndarray) -> np.ndarray:
    return (entry_ids[:, None] * REGION_SLOTS + np.arange(REGION_SLOTS)[None, :]).ravel()


def build_pdq(folder: Path, rows: Iterable[tuple[int, str]]) -> PDQIndex:
    """A PDQ index of exactly ``rows`` (id, hex), converted a chunk at a
    time: a 10M-row bank never holds 10M hex strings."""
    ids: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    batch_ids: list[int] = []
    batch_hex: list[str] = []
    for entry_id, hx in rows:
        batch_ids.append(entry_id)
        batch_hex.append(hx)
        if len(batch_ids) >= _CHUNK:
            ids.append(np.asarray(batch_ids, dtype=np.int64))
            codes.append(hex_to_codes(batch_hex))
            batch_ids, batch_hex = [], []
    if batch_ids:
        ids.append(np.asarray(batch_ids, dtype=np.int64))
        codes.append(hex_to_codes(batch_hex))
    all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    all_codes = np.concatenate(codes) if codes else np.zeros((0, 32), dtype=np.uint8)
    return PDQIndex.build(folder, all_ids, all_codes)


class ExactMirror:
    """Every entry's value in memory (MD5/SHA-256 lookups and the values
    that explain PDQ hits without a database round trip), kept by the same
    deltas as the indexes."""

    def __init__(self) -> None:
        self.values: dict[int, str] = {}
        self._owner: dict[int, tuple[str, str]] = {}  # id -> (bank, signal type)
        self.exact: dict[tuple[str, str], dict[int, str]] = {}  # (type, value) -> {id: bank}

    def __len__(self) -> int:
        return len(self.values)

    def put(self, entry_id: int, bank: str, stype: str, value: str) -> None:
        self.drop(entry_id)
        self.values[entry_id] = value
        self._owner[entry_id] = (bank, stype)
        if stype in ("md5", "sha256"):
            self.exact.setdefault((stype, value), {})[entry_id] = bank

    def drop(self, entry_id: int) -> None:
        value = self.values.pop(entry_id, None)
        if value is None:
            return
        _bank, stype = self._owner.pop(entry_id)
        hits = self.exact.get((stype, value))
        if hits is not None:
            hits.pop(entry_id, None)
            if not hits:
                del self.exact[(stype, value)]

    def drop_bank(self, bank: str) -> None:
        for entry_id in [e for e, (b, _) in self._owner.items() if b == bank]:
            self.drop(entry_id)

    def lookup(self, stype: str, wanted: list[str], names: list[str]) -> list[tuple[str, int, str]]:
        allowed = set(names)
        return sorted(
            ((bank, eid, v) for v in wanted for eid, bank in self.exact.get((stype, v), {}).items() if bank in allowed),
            key=lambda r: r[1],
        )


class SyncedIndexes:
    """The PDQ, region, keypoint and video frame indexes of every bank, in
    one private slot under ``root``, at change ``seq`` of the database.

    Not for concurrent use by several threads without the caller's lock
    (the service holds its matcher lock around sync() and matching)."""

    def __init__(self, store: Store, root: Path, *, mirror_limit: int = 0):
        self.store = store
        self.root = Path(root)
        self.mirror_limit = mirror_limit
        self.seq = 0
        # Bumped whenever applied changes altered something a matcher holds.
        self.version = 0
        self.slot: Path | None = None
        self._lock_fd: int | None = None
        self._pdq: dict[int, PDQIndex] = {}
        self._regions: dict[int, PDQIndex] = {}
        self._frames: dict[int, PDQIndex] = {}
        self._kp: dict[int, KeypointIndex | None] = {}
        self._kp_entries: dict[int, set[int]] = {}
        self.mirror: ExactMirror | None = None
        self._mirror_tried = False
        self._rlock = threading.RLock()

    # -- the slot ------------------------------------------------------------
    def _open(self) -> None:
        if self.slot is not None:
            return
        with self._rlock:
            if self.slot is None:
                self._take_slot()

    def _take_slot(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for k in range(1024):
            slot = self.root / f"slot-{k}"
            slot.mkdir(exist_ok=True)
            fd = os.open(slot / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.slot, self._lock_fd = slot, fd
            break
        else:
            raise RuntimeError(f"{self.root}: all 1024 index cache slots are in use")
        state = self._read_state()
        newest = self.store.last_change_seq()
        if state is None or state.get("db") != self._db_key() or state.get("seq", 0) > newest:
            # A new slot, another database, or a database restored from an
            # older backup: nothing here can be trusted. The seq is taken
            # before any bank is built, so changes committed meanwhile are
            # applied again, which reconciling makes harmless.
            self._wipe()
            self.seq = newest
            self._write_state()
        else:
            self.seq = int(state["seq"])

    def _db_key(self) -> str:
        return self.store.url.render_as_string(hide_password=True)

    def _read_state(self) -> dict | None:
        try:
            state = json.loads((self.slot / STATE).read_bytes())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and state.get("format") == _FORMAT else None

    def _write_state(self) -> None:
        atomic_write(self.slot / STATE, json.dumps({"format": _FORMAT, "db": self._db_key(), "seq": self.seq}).encode())

    def _wipe(self) -> None:
        self._close_indexes()
        for p in self.slot.iterdir():
            if p.name != "LOCK":
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    def _dir(self, bank_id: int, name: str, suffix: str = "") -> Path:
        # The id keeps a re-created bank of the same name from inheriting files.
        return self.slot / f"{bank_id}-{name}{suffix}"

    # -- opening a bank's indexes (built from the database when missing or corrupt)
    def _open_or_build(
        self, cache: dict[int, PDQIndex], row: BankRow, suffix: str, rows: Callable[[], Iterable[tuple[int, str]]]
    ) -> PDQIndex:
        index = cache.get(row.id)
        if index is not None:
            return index
        folder = self._dir(row.id, row.name, suffix)
        index = None
        if (folder / "MANIFEST.json").exists():
            try:
                index = PDQIndex.open(folder)
            except (OSError, ValueError, RuntimeError) as exc:
                log.warning("index cache %s is unreadable (%s); rebuilding it from the database", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)
        if index is None:
            index = build_pdq(folder, rows())
        cache[row.id] = index
        return index

    def pdq(self, row: BankRow) -> PDQIndex:
        self._open()
        return self._open_or_build(
            self._pdq,
            row,
            "",
            lambda: ((e.id, e.value) for e in self.store.iter_entries(row.name, signal_type="pdq", enabled_only=True)),
        )

    def regions(self, row: BankRow) -> PDQIndex:
        self._open()

        def rows():
            for entry_id, blob, _ in self.store.iter_entry_features(row.name):
                if blob:
                    rids, codes = decode_regions(entry_id, blob)
                    yield from zip(rids.tolist(), (c.tobytes().hex() for c in codes), strict=True)

        return self._open_or_build(self._regions, row, ".regions", rows)

    def frames(self, row: BankRow) -> PDQIndex:
        self._open()
        return self._open_or_build(
            self._frames,
            row,
            ".vpdq",
            lambda: ((r.id, r.pdq) for r in self.store.iter_video_frames(row.name, enabled_only=True)),
        )

    def keypoints(self, row: BankRow) -> KeypointIndex | None:
        self._open()
        if row.id not in self._kp:
            folder = self._keypoint_folder(row)
            self._kp[row.id] = KeypointIndex.open(folder)
        return self._kp[row.id]

    def _keypoint_folder(self, row: BankRow) -> Path:
        """The bank's keypoint records, written from the database on first use."""
        folder = self._dir(row.id, row.name, ".keypoints")
        if not (folder / bank_keypoints.RECORDS).exists():
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            records = [kp for _, _, kp in self.store.iter_entry_features(row.name) if kp]
            bank_keypoints.append_records(tmp, records, create=True)
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(tmp, folder)
        if row.id not in self._kp_entries:
            self._kp_entries[row.id] = set(bank_keypoints.entry_ids(folder).tolist())
        return folder

    # -- applying changes ------------------------------------------------------
    def pending(self) -> bool:
        """Whether the database has changes this cache has not applied (one cheap query)."""
        self._open()
        return self.store.last_change_seq() > self.seq

    def lag(self) -> int:
        """How many changes behind the database this cache is (0: caught up)."""
        self._open()
        return max(0, self.store.last_change_seq() - self.seq)

    def caught_up(self) -> bool:
        return self.lag() == 0

    def sync(self, *, step: Callable[[], object] | None = None, max_steps: int | None = None) -> bool:
        """Apply every change after ``seq``; True if any was applied. Work is
        done in steps of at most ~_STEP_ENTRIES entries; ``step`` (if given)
        is called between them, outside this cache's own lock, so a caller
        can let lookups through."""
        applied = False
        steps = 0
        while max_steps is None or steps < max_steps:
            if not self._sync_step():
                break
            applied = True
            steps += 1
            if step is not None:
                step()
        return applied

    def _sync_step(self) -> bool:
        with self._rlock:
            self._open()
            batch = self._next_step()
            if not batch:
                return False
            if self._apply(batch):
                self.version += 1
            self.seq = batch[-1].seq
            self._write_state()
            return True

    def _next_step(self) -> list[ChangeRow]:
        out: list[ChangeRow] = []
        n = 0
        seq = self.seq
        while n < _STEP_ENTRIES:
            rows = self.store.changes_after(seq, _CHANGE_BATCH)
            for c in rows:
                out.append(c)
                n += len(c.entry_ids or ())
                if n >= _STEP_ENTRIES:
                    break
            if len(rows) < _CHANGE_BATCH or not out:
                break
            seq = out[-1].seq
        return out

    def _apply(self, batch: list[ChangeRow]) -> bool:
        rows = {b.id: b for b in self.store.list_banks()}
        touched: dict[int, dict[str, set[int]]] = {}
        changed = False
        for c in batch:
            if c.op == "delete":
                self._drop_bank(c.bank_id, c.bank)
                touched.pop(c.bank_id, None)
                changed = True
            elif c.op == "reindex":
                self._drop_bank(c.bank_id, c.bank, mirror=False)
                changed = True
            elif c.op in _META_OPS and c.entry_ids is None:
                changed = True  # thresholds, kinds and flags are read from the rows by matchers
            elif c.entry_ids:
                t = touched.setdefault(c.bank_id, {})
                kind = {"pdq": "pdq", "vpdq": "vpdq"}.get(c.signal_type or "", "other")
                if c.op == "features":
                    kind = "features"
                t.setdefault(kind, set()).update(c.entry_ids)
                if c.op == "enable" and kind == "pdq":
                    t.setdefault("features", set()).update(c.entry_ids)
                if c.detail and c.detail.get("frame_ids"):
                    t.setdefault("gone_frames", set()).update(c.detail["frame_ids"])
        for bank_id, kinds in touched.items():
            row = rows.get(bank_id)
            if row is None:
                continue  # deleted since: its delete is in the log
            changed = True
            self._reconcile(row, kinds)
        return changed

    def _drop_bank(self, bank_id: int, name: str, *, mirror: bool = True) -> None:
        for cache in (self._pdq, self._regions, self._frames):
            index = cache.pop(bank_id, None)
            if index is not None:
                index.close()
        self._kp.pop(bank_id, None)
        self._kp_entries.pop(bank_id, None)
        for suffix in ("", ".regions", ".vpdq", ".keypoints"):
            shutil.rmtree(self._dir(bank_id, name, suffix), ignore_errors=True)
        if mirror and self.mirror is not None:
            self.mirror.drop_bank(name)

    def _reconcile(self, row: BankRow, kinds: dict[str, set[int]]) -> None:
        ids = set().union(*(v for k, v in kinds.items() if k != "gone_frames"))
        states = {e: (bid, st, v, en) for e, bid, st, v, en in self.store.entry_states(ids)}

        def live(e: int, stype: str | None = None) -> bool:
            s = states.get(e)
            return s is not None and s[0] == row.id and s[3] and (stype is None or s[1] == stype)

        if self.mirror is not None:
            for e in ids:
                if live(e):
                    self.mirror.put(e, row.name, states[e][1], states[e][2])
                else:
                    self.mirror.drop(e)
            if len(self.mirror) > self.mirror_limit:
                self.mirror = None  # grew past the limit: lookups go to the database
        pdq_ids = kinds.get("pdq", set()) | kinds.get("features", set())
        if pdq_ids:
            self._reconcile_pdq(row, sorted(pdq_ids), live, states, kinds.get("features", set()))
        if "vpdq" in kinds or "gone_frames" in kinds:
            self._reconcile_frames(row, kinds.get("vpdq", set()), kinds.get("gone_frames", set()))

    def _reconcile_pdq(self, row, pdq_ids, live, states, feature_ids) -> None:
        index = self.pdq(row)
        keep = [e for e in pdq_ids if live(e, "pdq")]
        dead = np.asarray([e for e in pdq_ids if not live(e, "pdq")], dtype=np.int64)
        if len(dead):
            index.remove(dead)
        if keep:
            index.add(np.asarray(keep, dtype=np.int64), hex_to_codes([states[e][2] for e in keep]))
        regions = self.regions(row)
        if len(dead) and len(regions):
            regions.remove(_region_ids(dead))
        wanted = sorted(e for e in feature_ids if live(e, "pdq"))
        if not wanted:
            return
        feats = self.store.entry_features(wanted)
        rids, codes = [], []
        for e in wanted:
            blob = feats.get(e, (None, None))[0]
            if blob:
                r, c = decode_regions(e, blob)
                rids.append(r)
                codes.append(c)
        if rids:
            regions.add(np.concatenate(rids), np.concatenate(codes))
        folder = self._keypoint_folder(row)
        known = self._kp_entries[row.id]
        # Records are append-only: one already there (a replayed change, an
        # entry disabled and enabled again) is not appended twice.
        new = [(e, feats[e][1]) for e in wanted if e in feats and feats[e][1] and e not in known]
        if new:
            bank_keypoints.append_records(folder, [kp for _, kp in new])
            known.update(e for e, _ in new)
            # Reopened (with its inverted file rebuilt) on next use; a matcher
            # still holding the old one keeps a consistent, older view.
            self._kp.pop(row.id, None)

    def _reconcile_frames(self, row: BankRow, entry_ids: set[int], gone: set[int]) -> None:
        index = self.frames(row)
        frames = self.store.frames_of_entries(entry_ids) if entry_ids else []
        add = [(f, pdq) for f, e, pdq, enabled in frames if enabled]
        dead = set(gone) | {f for f, e, pdq, enabled in frames if not enabled}
        if dead:
            index.remove(np.asarray(sorted(dead), dtype=np.int64))
        if add:
            index.add(np.asarray([f for f, _ in add], dtype=np.int64), hex_to_codes([h for _, h in add]))

    # -- the exact-value mirror -------------------------------------------------
    def exact_mirror(self) -> ExactMirror | None:
        """The in-memory mirror of every entry's value, built on first use when
        the banks hold at most ``mirror_limit`` enabled entries in total."""
        with self._rlock:
            self._open()
            if self.mirror is None and not self._mirror_tried and self.mirror_limit:
                self._mirror_tried = True
                banks = self.store.list_banks()
                total = sum(c.get("enabled", 0) for b in banks for c in self.store.count_entries(b.name).values())
                if total <= self.mirror_limit:
                    mirror = ExactMirror()
                    for b in banks:
                        for e in self.store.iter_entries(b.name, enabled_only=True):
                            mirror.put(e.id, b.name, e.signal_type, e.value)
                    self.mirror = mirror
            return self.mirror

    # -- lifecycle ---------------------------------------------------------------
    def rebuild(self, row: BankRow) -> PDQIndex:
        """Rebuild this process's copy of the bank's indexes from the database."""
        with self._rlock:
            self._open()
            self._drop_bank(row.id, row.name, mirror=False)
            return self.pdq(row)

    def _close_indexes(self) -> None:
        for cache in (self._pdq, self._regions, self._frames):
            for index in cache.values():
                index.close()
            cache.clear()
        for kp in self._kp.values():
            if kp is not None:
                kp.close()
        self._kp.clear()
        self._kp_entries.clear()

    def close(self) -> None:
        with self._rlock:
            self._close_indexes()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the slot
                self._lock_fd = None
            self.slot = None
