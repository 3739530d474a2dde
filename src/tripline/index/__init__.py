"""Exact Hamming-radius index for 256-bit PDQ codes.

Usage::

    idx = PDQIndex.open("bank.idx")        # creates an empty index if missing
    idx.add(ids, codes)                   # durable when it returns
    hits = idx.search(queries, 31)        # inclusive threshold, every match

State = an immutable memory-mapped base segment (multi-index hashing tables,
see mih.py) + an update log replayed into a small in-memory delta (added codes,
scanned by brute force, and base entries shadowed by removals/replacements).
The log is folded into a new base by compact(), automatically once it holds
more than ``compact_threshold`` operations (the update that crosses it is
already durable and visible; its call then blocks for the rebuild, ~8 s at
10M entries). See store.py for the on-disk format and crash safety.

Concurrency: one writer process (enforced with flock, IndexLockedError
otherwise); any number of ``readonly=True`` openers in other processes, which
keep serving the state they loaded until ``refresh()``. An instance is not
safe for concurrent use from several threads.

The first search in a process loads the compiled numba kernels from numba's
on-disk cache (well under a second; a cold cache compiles them, ~20 s).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import time
from pathlib import Path

import numba
import numpy as np

from . import mih, store

__all__ = ["IndexLockedError", "PDQIndex", "brute_force_search", "codes_to_hex", "hex_to_codes"]

Result = list[tuple[np.ndarray, np.ndarray]]
_HEX = frozenset("0123456789abcdefABCDEF")


def hex_to_codes(hexes) -> np.ndarray:
    """64-char hex strings -> (n, 32) uint8, byte order of bytes.fromhex."""
    hexes = list(hexes)
    for h in hexes:
        if not isinstance(h, str) or len(h) != 64 or not _HEX.issuperset(h):
            raise ValueError(f"not a 64-hex-digit PDQ hash: {h!r}")
    if not hexes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32).copy()


def codes_to_hex(codes: np.ndarray) -> list[str]:
    codes = _as_codes(codes, "codes")
    return [row.tobytes().hex() for row in codes]


def _as_codes(codes, name: str) -> np.ndarray:
    a = np.asarray(codes)
    if a.ndim != 2 or a.shape[1] != 32 or a.dtype != np.uint8:
        raise ValueError(f"{name} must be a (n, 32) uint8 array, got {a.dtype}{a.shape}")
    return np.ascontiguousarray(a)


def _as_ids(ids, n: int | None = None) -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ValueError(f"ids must be a 1-D integer array, got {a.dtype}{a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{len(a)} ids for {n} codes")
    return a.astype(np.int64, copy=False)


def _check_threshold(threshold) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 0:
        raise ValueError(f"threshold must be a non-negative int, got {threshold!r}")
    return int(threshold)


def _group(m: int, qidx, ids, dist) -> Result:
    """Flat (query, id, distance) triples -> per-query arrays sorted by (distance, id)."""
    order = np.lexsort((ids, dist, qidx))
    ids = ids[order].astype(np.int64, copy=False)
    dist = dist[order].astype(np.int32, copy=False)
    cuts = np.searchsorted(qidx[order], np.arange(1, m))
    return list(zip(np.split(ids, cuts), np.split(dist, cuts), strict=True))


def brute_force_search(codes_db, ids_db, queries, threshold: int) -> Result:
    """Reference implementation in plain numpy (the test oracle)."""
    codes_db = _as_codes(codes_db, "codes_db")
    ids_db = _as_ids(ids_db, len(codes_db))
    queries = _as_codes(queries, "queries")
    r = _check_threshold(threshold)
    db = codes_db.view(np.uint64)
    out = []
    for q in queries.view(np.uint64):
        d = np.bitwise_count(db ^ q).sum(axis=1, dtype=np.int32)
        sel = np.flatnonzero(d <= r)
        order = np.lexsort((ids_db[sel], d[sel]))
        out.append((ids_db[sel][order], d[sel][order].astype(np.int32)))
    return out


def _run(kernel_serial, kernel_parallel, m, args, q_args, parallel, cap=16):
    """Run a (query -> capped hit list) kernel; redo the few queries that overflow."""
    kernel = kernel_parallel if parallel else kernel_serial
    out_pos = np.empty((m, cap), np.int64)
    out_dist = np.empty((m, cap), np.int64)
    counts = np.empty(m, np.int64)
    kernel(*q_args, *args, out_pos, out_dist, counts)
    over = np.flatnonzero(counts > cap)
    qi = np.repeat(np.arange(m), np.minimum(counts, cap))
    valid = np.arange(cap)[None, :] < np.minimum(counts, cap)[:, None]
    pos, dist = out_pos[valid], out_dist[valid]
    if len(over):
        big = int(counts[over].max())
        sub_q = tuple(a[over] for a in q_args)
        o_pos = np.empty((len(over), big), np.int64)
        o_dist = np.empty((len(over), big), np.int64)
        o_counts = np.empty(len(over), np.int64)
        kernel(*sub_q, *args, o_pos, o_dist, o_counts)
        keep = ~np.isin(qi, over)
        v2 = np.arange(big)[None, :] < o_counts[:, None]
        qi = np.concatenate([qi[keep], np.repeat(over, o_counts)])
        pos = np.concatenate([pos[keep], o_pos[v2]])
        dist = np.concatenate([dist[keep], o_dist[v2]])
    return qi, pos, dist


def _scan(q64, c64, r, parallel):
    """Exhaustive scan (small delta, or thresholds too wide for the tables)."""
    m = len(q64)
    group = max(1, min(16, m // (4 * numba.get_num_threads()))) if parallel else 16
    return _run(mih.scan_serial, mih.scan_parallel, m, (c64, r, group), (q64,), parallel)


class IndexLockedError(RuntimeError):
    pass


class PDQIndex:
    """See module docstring. One writer process at a time; any number of readers."""

    DEFAULT_COMPACT_THRESHOLD = 16384

    def __init__(self, path, readonly: bool, compact_threshold: int):
        self.path = Path(path)
        self.readonly = readonly
        self.compact_threshold = int(compact_threshold)
        self._lock_fd = None
        self._log = None
        self._base = None
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise IndexLockedError(f"{self.path}: another process has it open for writing") from None
        self._load()
        if not readonly:
            self._recover()

    # ---- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, path, *, readonly: bool = False, compact_threshold: int = DEFAULT_COMPACT_THRESHOLD) -> PDQIndex:
        return cls(path, readonly, compact_threshold)

    @classmethod
    def build(cls, path, ids, codes, *, compact_threshold: int = DEFAULT_COMPACT_THRESHOLD) -> PDQIndex:
        """Replace whatever is at `path` with exactly these entries (ids unique)."""
        codes = _as_codes(codes, "codes")
        ids = _as_ids(ids, len(codes))
        order = np.argsort(ids, kind="stable")
        ids, codes = ids[order], codes[order]
        if len(ids) > 1 and not (np.diff(ids) > 0).all():
            dup = ids[1:][np.diff(ids) == 0][0]
            raise ValueError(f"duplicate id {int(dup)} in build")
        idx = cls(path, False, compact_threshold)
        try:
            idx._commit_base(ids, codes)
        except BaseException:
            idx.close()
            raise
        return idx

    def _load(self) -> None:
        # Retry: a writer may compact and delete the generation we just read about.
        for _ in range(100):
            key = store.manifest_key(self.path)
            m = store.read_manifest(self.path)
            try:
                base = store.open_base(self.path, m["gen"], m["n"])
                data = self._read_log_bytes(m["gen"], 0)
            except FileNotFoundError:
                if not self.path.exists():
                    base, data = None, b""
                else:
                    continue
            break
        else:
            raise RuntimeError(f"{self.path}: index kept changing while opening")
        self._manifest_key = key
        self._gen = m["gen"]
        self._updated_ns = m.get("updated_ns")
        self._base = base
        self._ops: list = []
        self._log_off = 0
        self._apply_log_bytes(data)
        self._derive()

    def _read_log_bytes(self, gen: int, start: int) -> bytes:
        try:
            with open(store.log_path(self.path, gen), "rb") as f:
                f.seek(start)
                return f.read()
        except FileNotFoundError:
            if gen == 0 and start == 0:
                return b""
            raise

    def _apply_log_bytes(self, data: bytes) -> bool:
        recs, end = store.parse_log(data)
        self._log_off += end
        for kind, ids, codes, ts in recs:
            self._ops.append((kind, ids, codes))
            self._updated_ns = max(self._updated_ns or 0, ts)
        return bool(recs)

    def _recover(self) -> None:
        """Writer: cut a torn tail off the log, remove stale files, open for append."""
        lp = store.log_path(self.path, self._gen)
        if not lp.exists():
            store.create_log(self.path, self._gen)
        if lp.stat().st_size != self._log_off:
            with open(lp, "r+b") as f:
                f.truncate(self._log_off)
                os.fsync(f.fileno())
        store.cleanup(self.path, self._gen)
        self._log = open(lp, "ab")  # noqa: SIM115 - held for the writer's lifetime

    def refresh(self) -> bool:
        """Pick up changes committed by the writer since we loaded. Returns True if any."""
        if self._log is not None:
            return False  # the writer is always current
        if store.manifest_key(self.path) != self._manifest_key:
            self._load()
            return True
        try:
            data = self._read_log_bytes(self._gen, self._log_off)
        except FileNotFoundError:
            self._load()
            return True
        if self._apply_log_bytes(data):
            self._derive()
            return True
        return False

    # ---- derived state ---------------------------------------------------------

    def _derive(self) -> None:
        """Replay the ops: last operation per id wins."""
        base_ids = self._base.ids if self._base is not None else np.zeros(0, np.int64)
        if self._ops:
            ids = np.concatenate([o[1] for o in self._ops])
            is_add = np.concatenate([np.full(len(o[1]), o[0] == store.KIND_ADD) for o in self._ops])
            codes = np.concatenate(
                [o[2] if o[2] is not None else np.zeros((len(o[1]), 32), np.uint8) for o in self._ops]
            )
            uniq, ridx = np.unique(ids[::-1], return_index=True)
            last = len(ids) - 1 - ridx
            bp = np.searchsorted(base_ids, uniq)
            inbase = bp < len(base_ids)
            inbase[inbase] = base_ids[bp[inbase]] == uniq[inbase]
            self._masked = bp[inbase]  # sorted, since uniq is
            add = is_add[last]
            self._d_ids = uniq[add]
            self._d_codes = np.ascontiguousarray(codes[last[add]])
        else:
            self._masked = np.zeros(0, np.int64)
            self._d_ids = np.zeros(0, np.int64)
            self._d_codes = np.zeros((0, 32), np.uint8)
        self._n_ops = sum(len(o[1]) for o in self._ops)

    def __len__(self) -> int:
        nb = len(self._base) if self._base is not None else 0
        return nb - len(self._masked) + len(self._d_ids)

    def _live_mask(self, ids: np.ndarray) -> np.ndarray:
        live = np.isin(ids, self._d_ids)
        if self._base is not None:
            b = self._base.ids
            bp = np.searchsorted(b, ids)
            ok = bp < len(b)
            ok[ok] = b[bp[ok]] == ids[ok]
            ok[ok] = ~np.isin(bp[ok], self._masked)
            live |= ok
        return live

    # ---- updates ---------------------------------------------------------------

    def _writable(self):
        if self._log is None:
            raise PermissionError(f"{self.path}: index is open read-only (or closed)")

    def add(self, ids, codes) -> None:
        """Add or replace entries. Duplicate ids within one call: the last wins."""
        self._writable()
        codes = _as_codes(codes, "codes")
        ids = _as_ids(ids, len(codes))
        if len(ids):
            self._update(store.KIND_ADD, ids, codes)

    def remove(self, ids) -> None:
        """Remove entries; unknown ids are ignored."""
        self._writable()
        ids = _as_ids(ids)
        ids = np.unique(ids[self._live_mask(ids)]) if len(ids) else ids
        if len(ids):
            self._update(store.KIND_REMOVE, ids, None)

    def _update(self, kind, ids, codes) -> None:
        # Log first: the change is durable and visible to readers (after refresh)
        # as soon as the record is fsynced, even if a compaction follows.
        store.append_record(self._log, store.encode_record(kind, ids, codes))
        self._log_off = self._log.tell()
        self._ops.append((kind, ids, codes))
        self._updated_ns = max(self._updated_ns or 0, time.time_ns())
        self._derive()
        if self._n_ops > self.compact_threshold:
            self.compact()

    def _commit_base(self, ids: np.ndarray, codes: np.ndarray) -> None:
        gen = self._gen + 1
        if len(ids):
            store.write_base(self.path, gen, ids, codes)
        store.create_log(self.path, gen)
        now = time.time_ns()
        store.write_manifest(self.path, {"format": store.FORMAT, "gen": gen, "n": len(ids), "updated_ns": now})
        # Committed. Switch over, then drop the old generation.
        if self._log is not None:
            self._log.close()
            self._log = None
        self._base = None
        self._load()
        self._recover()

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """All live entries as (ids, codes), sorted by id."""
        ids, codes = self._d_ids, self._d_codes
        if self._base is not None:
            keep = np.ones(len(self._base), bool)
            keep[self._masked] = False
            ids = np.concatenate([self._base.ids[keep], ids])
            codes = np.concatenate([self._base.codes[keep], codes])
        order = np.argsort(ids, kind="stable")
        return ids[order], codes[order]

    def compact(self) -> None:
        """Fold the delta into a new base segment (crash-safe; readers may keep the old one)."""
        self._writable()
        if self._ops:
            self._commit_base(*self.export())

    # ---- search ----------------------------------------------------------------

    def search(self, queries, threshold: int, *, parallel: bool | None = None) -> Result:
        """Every live entry within `threshold` (inclusive) of each query.

        Returns one (ids int64, distances int32) pair per query, sorted by
        (distance, id). parallel=None uses all numba threads for batches of 32+:
        below that, waiting for a second thread on a busy machine costs more
        than it saves (one query is ~0.2 ms at 10M entries).
        """
        queries = _as_codes(queries, "queries")
        r = _check_threshold(threshold)
        m = len(queries)
        if parallel is None:
            parallel = m >= 32
        q64 = queries.view(np.uint64)
        parts = []
        b = self._base
        if b is not None and m:
            wr, hr = mih.radii(r)
            nprobe = mih.n_probes(hr)
            # Probing a quarter of every table costs more than one exhaustive scan.
            if nprobe * 4 < mih.NBUCKET:
                qi, pos, dist = _run(
                    mih.probe_serial,
                    mih.probe_parallel,
                    m,
                    (b.c64, b.c16, b.offsets, b.pos, b.partner, mih.MASKS, mih.MASK_PC, mih.N_MASKS, hr, wr, r, nprobe),
                    (q64, queries.view(np.uint16)),
                    parallel,
                )
            else:
                qi, pos, dist = _scan(q64, b.c64, r, parallel)
            if len(self._masked):
                live = ~np.isin(pos, self._masked)
                qi, pos, dist = qi[live], pos[live], dist[live]
            parts.append((qi, b.ids[pos], dist))
        if len(self._d_ids) and m:
            qi, pos, dist = _scan(q64, self._d_codes.view(np.uint64), r, parallel)
            parts.append((qi, self._d_ids[pos], dist))
        if not parts:
            return [(np.zeros(0, np.int64), np.zeros(0, np.int32)) for _ in range(m)]
        qi, ids, dist = (np.concatenate(x) for x in zip(*parts, strict=True))
        return _group(m, qi, ids, dist)

    # ---- introspection / lifecycle ----------------------------------------------

    def stats(self) -> dict:
        ts = self._updated_ns
        last = None if not ts else _dt.datetime.fromtimestamp(ts / 1e9, _dt.UTC).isoformat().replace("+00:00", "Z")
        mapped = self._base.nbytes if self._base is not None else 0
        heap = self._d_codes.nbytes + self._d_ids.nbytes + self._masked.nbytes
        return {
            "size": len(self),
            "base_size": len(self._base) if self._base is not None else 0,
            "memory_bytes": mapped + heap,
            "mapped_bytes": mapped,
            "heap_bytes": heap,
            "disk_bytes": store.disk_bytes(self.path, self._gen),
            "last_update": last,
            "generation": self._gen,
            "segments": 1 if self._base is not None else 0,
            "pending": self._n_ops,
            "pending_added": len(self._d_ids),
            "pending_masked": len(self._masked),
            "readonly": self._log is None,
        }

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        self._base = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"PDQIndex({str(self.path)!r}, size={len(self)}, readonly={self.readonly})"
