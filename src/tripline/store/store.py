"""The Tripline store: hash banks and scan results on SQLite or PostgreSQL."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from .engine import make_engine, migrate, normalise_url, write_transaction
from .models import (
    Bank,
    BankChange,
    BankEntry,
    BankEntryFeatures,
    ItemMatch,
    ScanItem,
    ScanRun,
    VideoBankSettings,
    VideoFrame,
    utcnow,
)

banks: Table = Bank.__table__
entries: Table = BankEntry.__table__
runs: Table = ScanRun.__table__
items: Table = ScanItem.__table__
matches: Table = ItemMatch.__table__
video_frames: Table = VideoFrame.__table__
video_settings: Table = VideoBankSettings.__table__
changes: Table = BankChange.__table__
features: Table = BankEntryFeatures.__table__

# Serialises the commits of bank changes on PostgreSQL (see log_bank_change).
_PG_CHANGE_LOCK = 0x7472_6970_6368_6701  # "tripchg" + 1

BANK_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
BANK_KINDS = ("match", "allow")
FINAL_RUN_STATUSES = ("finished", "interrupted", "failed")
BANK_FIELDS = ("enabled", "pdq_threshold", "pdq_quality_min", "description", "kind", "source")

# Rows per transaction when bulk-adding entries: big enough to amortise
# commits, small enough that a failure loses little and memory stays flat.
ENTRY_CHUNK = 50_000
# Values per IN (...) list; well under SQLite's 32766 bound-parameter limit.
IN_CHUNK = 5_000
RUN_ITEMS_BATCH = 10_000


class BankNotFound(LookupError, ValueError):
    """No bank of that name.  Also a ValueError, so CLI code catching bad
    user input catches it too."""


class RunNotFound(LookupError, ValueError):
    """No scan run with that id."""


@dataclass(frozen=True, slots=True)
class BankRow:
    id: int
    name: str
    kind: str
    enabled: bool
    pdq_threshold: int
    pdq_quality_min: int
    description: str
    source: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    bank_id: int
    signal_type: str
    value: str
    note: str | None
    enabled: bool
    added_at: datetime


@dataclass(frozen=True, slots=True)
class VideoFrameRow:
    id: int
    entry_id: int
    position: int
    pdq: str
    quality: int
    timestamp: float
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ChangeRow:
    seq: int
    bank_id: int
    bank: str
    op: str
    signal_type: str | None
    entry_ids: list[int] | None
    detail: dict | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AddResult:
    added: list[tuple[int, str, str]]
    duplicates: int


# --------------------------------------------------------------------------
# validation and cleaning


def _check_bank_name(name: object) -> str:
    if not isinstance(name, str) or not BANK_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid bank name {name!r}: use 1-64 characters from A-Z a-z 0-9 _ . -")
    return name


def _check_int(field: str, value: object, lo: int, hi: int) -> int:
    # bool is an int subclass; True as a threshold is certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{field} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _check_bank_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for field, value in fields.items():
        if field == "kind":
            if value not in BANK_KINDS:
                raise ValueError(f"bank kind must be 'match' or 'allow', got {value!r}")
        elif field == "enabled":
            if not isinstance(value, bool):
                raise ValueError(f"enabled must be True or False, got {value!r}")
        elif field == "pdq_threshold":
            _check_int(field, value, 0, 256)  # PDQ hashes are 256 bits
        elif field == "pdq_quality_min":
            _check_int(field, value, 0, 100)
        elif field in ("description", "source"):
            if not isinstance(value, str):
                raise ValueError(f"{field} must be a string, got {value!r}")
            value = clean_text(value)
        else:
            raise TypeError(f"unknown bank field {field!r}; updatable fields: {', '.join(BANK_FIELDS)}")
        out[field] = value
    return out


def clean_text(s: str) -> str:
    """Make ``s`` storable on every backend, deterministically.

    File names are bytes on POSIX and reach Python as lone surrogates
    (``surrogateescape``) when they are not UTF-8; archive member names can
    even contain NUL.  Neither can be stored as PostgreSQL text, and the
    surrogates not as SQLite text either.  Undecodable bytes become ``\\xNN``
    and NUL becomes ``\\x00``; valid text is returned unchanged.  Record keys
    go through this too, so a caller comparing its own keys with
    ``finished_keys()`` should compare ``clean_text(key)``.
    """
    if "\x00" not in s:
        if s.isascii():
            return s
        try:
            s.encode("utf-8")
            return s
        except UnicodeEncodeError:
            pass
    try:
        raw = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that did not come from bytes
        raw = s.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _clean_json(obj: Any) -> Any:
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {(clean_text(k) if isinstance(k, str) else k): _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON (and JSONB) has no NaN or infinity
    return obj


def _opt_int(record: dict, field: str) -> int | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"record {field!r} must be an integer or None, got {value!r}")
    return value


def _opt_str(record: dict, field: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"record {field!r} must be a string or None, got {value!r}")
    return value


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def _insert(conn: Connection, table: Table):
    """INSERT that knows ON CONFLICT for the connection's dialect."""
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table)


def _pg_copy_entries(conn: Connection, bank_id: int, rows: list[dict], now: datetime) -> list[tuple[int, str, str]]:
    """Bulk-add entries on PostgreSQL via COPY into a staging table.

    Multi-row INSERTs run at roughly 15k rows/s here; COPY plus one
    INSERT ... SELECT is several times faster, which matters for banks of
    millions of hashes.
    """
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE tripline_entry_stage "
        "(signal_type text NOT NULL, value text NOT NULL, note text) ON COMMIT DROP"
    )
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy("COPY tripline_entry_stage (signal_type, value, note) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r["signal_type"], r["value"], r["note"]))
    finally:
        cursor.close()
    result = conn.execute(
        text(
            "INSERT INTO bank_entries (bank_id, signal_type, value, note, enabled, added_at) "
            "SELECT :bank_id, signal_type, value, note, true, :now FROM tripline_entry_stage "
            "ON CONFLICT (bank_id, signal_type, value) DO NOTHING "
            "RETURNING id, signal_type, value"
        ).bindparams(bindparam("now", type_=entries.c.added_at.type)),
        {"bank_id": bank_id, "now": now},
    )
    return [tuple(r) for r in result]


def log_bank_change(
    conn: Connection,
    bank_id: int,
    bank: str,
    op: str,
    *,
    signal_type: str | None = None,
    entry_ids: Iterable[int] | None = None,
    detail: dict | None = None,
) -> int:
    """Record one bank change in the change log, inside the caller's write
    transaction (so the change and its log row commit together); returns its seq.

    The one function every writer of banks calls: the store's own methods do,
    and so must anything that changes banks behind them (an exchange fetch
    writing rows directly). Call it last in the transaction. On PostgreSQL it
    first takes a transaction-scoped advisory lock, so a change's seq is drawn
    and committed while no other change can draw one: seqs become visible in
    commit order and a reader that has seen seq N has seen every committed
    change below N (docs/consistency.md). SQLite writers are serialised by
    BEGIN IMMEDIATE already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHANGE_LOCK})
    ids = None if entry_ids is None else [int(i) for i in entry_ids]
    return conn.execute(
        changes.insert()
        .values(
            bank_id=bank_id,
            bank=bank,
            op=op,
            signal_type=signal_type,
            entry_ids=ids,
            detail=None if detail is None else _clean_json(detail),
            at=utcnow(),
        )
        .returning(changes.c.seq)
    ).scalar_one()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------


class Store:
    """Banks of known hashes and the results of scan runs.

    Opening a store migrates its database to the newest schema.  Every public
    method runs in its own transaction(s) and is safe to call from several
    threads; share one Store per process (not across ``fork``).
    """

    def __init__(self, url: str):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        try:
            migrate(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ banks

    def _bank_id(self, conn: Connection, name: str) -> int:
        bank_id = conn.execute(select(banks.c.id).where(banks.c.name == name)).scalar()
        if bank_id is None:
            raise BankNotFound(f"no bank named {name!r}")
        return bank_id

    def _touch(self, conn: Connection, bank_id: int) -> None:
        conn.execute(update(banks).where(banks.c.id == bank_id).values(updated_at=utcnow()))

    def create_bank(
        self,
        name: str,
        *,
        kind: str = "match",
        pdq_threshold: int = 31,
        pdq_quality_min: int = 50,
        description: str = "",
        source: str = "",
    ) -> BankRow:
        _check_bank_name(name)
        fields = _check_bank_fields(
            dict(
                kind=kind,
                pdq_threshold=pdq_threshold,
                pdq_quality_min=pdq_quality_min,
                description=description,
                source=source,
            )
        )
        now = utcnow()
        with self._write() as conn:
            stmt = (
                _insert(conn, banks)
                .values(name=name, enabled=True, created_at=now, updated_at=now, **fields)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(*banks.c)
            )
            row = conn.execute(stmt).first()
            if row is not None:
                log_bank_change(conn, row.id, name, "create", detail=fields)
        if row is None:
            raise ValueError(f"bank {name!r} already exists")
        return BankRow(**row._mapping)

    def get_bank(self, name: str) -> BankRow | None:
        with self._read() as conn:
            row = conn.execute(select(banks).where(banks.c.name == name)).first()
        return BankRow(**row._mapping) if row else None

    def list_banks(self) -> list[BankRow]:
        with self._read() as conn:
            rows = conn.execute(select(banks).order_by(banks.c.name)).all()
        return [BankRow(**r._mapping) for r in rows]

    def update_bank(self, name: str, /, **fields: Any) -> BankRow:
        values = _check_bank_fields(fields)
        with self._write() as conn:
            row = conn.execute(
                update(banks).where(banks.c.name == name).values(updated_at=utcnow(), **values).returning(*banks.c)
            ).first()
            if row is not None:
                op = ("enable" if values["enabled"] else "disable") if set(values) == {"enabled"} else "update"
                log_bank_change(conn, row.id, name, op, detail=values)
        if row is None:
            raise BankNotFound(f"no bank named {name!r}")
        return BankRow(**row._mapping)

    def delete_bank(self, name: str) -> None:
        with self._write() as conn:
            bank_id = self._bank_id(conn, name)
            # Explicit rather than relying on ON DELETE CASCADE alone, so a
            # SQLite connection opened without foreign_keys=ON (some other
            # tool) cannot leave orphaned entries behind.
            conn.execute(delete(entries).where(entries.c.bank_id == bank_id))
            conn.execute(delete(banks).where(banks.c.id == bank_id))
            log_bank_change(conn, bank_id, name, "delete")

    def log_change(self, bank_name: str, op: str, **kw: Any) -> int:
        """Log a change that has no rows of its own (``reindex``: every
        process rebuilds its copy of the bank's indexes)."""
        with self._write() as conn:
            return log_bank_change(conn, self._bank_id(conn, bank_name), bank_name, op, **kw)

    # ----------------------------------------------------------- change log

    def last_change_seq(self) -> int:
        """The newest committed change (0: none yet)."""
        with self._read() as conn:
            return int(conn.execute(select(func.max(changes.c.seq))).scalar() or 0)

    def changes_after(self, seq: int, limit: int = 1000) -> list[ChangeRow]:
        """Up to ``limit`` changes with a seq above ``seq``, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(changes).where(changes.c.seq > seq).order_by(changes.c.seq).limit(limit)).all()
        return [ChangeRow(**r._mapping) for r in rows]

    def entry_states(self, entry_ids: Iterable[int]) -> list[tuple[int, int, str, str, bool]]:
        """(id, bank_id, signal_type, value, enabled) of the entries that
        still exist: what a cache reconciles the entries of a change to."""
        out: list[tuple[int, int, str, str, bool]] = []
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(entry_ids)), IN_CHUNK):
                out += [
                    tuple(r)
                    for r in conn.execute(
                        select(
                            entries.c.id, entries.c.bank_id, entries.c.signal_type, entries.c.value, entries.c.enabled
                        ).where(entries.c.id.in_(chunk))
                    )
                ]
        return sorted(out)

    def add_entry_features(self, bank_name: str, rows: Iterable[tuple[int, bytes | None, bytes | None]]) -> int:
        """Store (entry id, region hashes, keypoint record) of entries banked
        from images; entries that already have features keep them."""
        n = 0
        for chunk in _chunks(rows, IN_CHUNK):
            with self._write() as conn:
                bank_id = self._bank_id(conn, bank_name)
                ids = [r[0] for r in chunk]
                mine = set(
                    conn.execute(
                        select(entries.c.id).where(entries.c.id.in_(ids), entries.c.bank_id == bank_id)
                    ).scalars()
                ) - set(conn.execute(select(features.c.entry_id).where(features.c.entry_id.in_(ids))).scalars())
                new = [{"entry_id": e, "regions": r, "keypoints": k} for e, r, k in chunk if e in mine]
                if new:
                    conn.execute(features.insert(), new)
                    log_bank_change(conn, bank_id, bank_name, "features", entry_ids=[r["entry_id"] for r in new])
                n += len(new)
        return n

    def entry_features(self, entry_ids: Iterable[int]) -> dict[int, tuple[bytes | None, bytes | None]]:
        out: dict[int, tuple[bytes | None, bytes | None]] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(entry_ids)), IN_CHUNK):
                for e, r, k in conn.execute(
                    select(features.c.entry_id, features.c.regions, features.c.keypoints).where(
                        features.c.entry_id.in_(chunk)
                    )
                ):
                    out[e] = (None if r is None else bytes(r), None if k is None else bytes(k))
        return out

    def iter_entry_features(
        self, bank_name: str, batch: int = 10_000
    ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
        """(entry id, regions, keypoints) of the bank's enabled entries, by id."""
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)
        query = (
            select(features.c.entry_id.label("id"), features.c.regions, features.c.keypoints)
            .join(entries, entries.c.id == features.c.entry_id)
            .where(entries.c.bank_id == bank_id, entries.c.enabled.is_(True))
        )
        for r in self._keyset_pages(query, features.c.entry_id, batch):
            yield (
                r.id,
                None if r.regions is None else bytes(r.regions),
                None if r.keypoints is None else bytes(r.keypoints),
            )

    def frames_of_entries(self, entry_ids: Iterable[int]) -> list[tuple[int, int, str, bool]]:
        """(frame id, entry id, pdq, entry enabled) of the video frames of these entries."""
        out: list[tuple[int, int, str, bool]] = []
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(entry_ids)), IN_CHUNK):
                out += [
                    tuple(r)
                    for r in conn.execute(
                        select(video_frames.c.id, video_frames.c.entry_id, video_frames.c.pdq, entries.c.enabled)
                        .join(entries, entries.c.id == video_frames.c.entry_id)
                        .where(video_frames.c.entry_id.in_(chunk))
                    )
                ]
        return sorted(out)

    def bank_touched(self, bank_name: str) -> None:
        with self._write() as conn:
            self._touch(conn, self._bank_id(conn, bank_name))

    # ---------------------------------------------------------------- entries

    def add_entries(self, bank_name: str, entries_: Iterable[tuple[str, str, str | None]]) -> AddResult:
        """Add ``(signal_type, value, note)`` rows, skipping ones already present.

        Consumes the iterable in chunks of ENTRY_CHUNK rows, one transaction
        each, so memory stays flat.  If a later chunk fails, earlier chunks
        stay committed; re-running the same add is safe because existing
        rows are skipped as duplicates.
        """
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)  # fail before consuming input
        added: list[tuple[int, str, str]] = []
        duplicates = 0
        for chunk in _chunks(entries_, ENTRY_CHUNK):
            now = utcnow()
            rows = []
            # Repeats inside a chunk are dropped here; repeats across chunks
            # (or of stored rows) by ON CONFLICT.  Remembering every value of
            # a multi-million-row load in Python would cost gigabytes.
            seen: set[tuple[str, str]] = set()
            for entry in chunk:
                signal_type, value, note = entry
                if not isinstance(signal_type, str) or not 0 < len(signal_type) <= 32:
                    raise ValueError(f"invalid signal type {signal_type!r}")
                if not isinstance(value, str) or not value:
                    raise ValueError(f"invalid {signal_type} value {value!r}")
                if note is not None and not isinstance(note, str):
                    raise ValueError(f"note must be a string or None, got {note!r}")
                k = (signal_type, value)
                if k in seen:
                    duplicates += 1
                    continue
                seen.add(k)
                rows.append(
                    {
                        "bank_id": bank_id,
                        "signal_type": signal_type,
                        "value": value,
                        "note": None if note is None else clean_text(note),
                        "enabled": True,
                        "added_at": now,
                    }
                )
            if not rows:
                continue
            with self._write() as conn:
                self._bank_id(conn, bank_name)  # clearer than an FK error if deleted meanwhile
                if conn.dialect.name == "postgresql":
                    got = _pg_copy_entries(conn, bank_id, rows, now)
                else:
                    stmt = (
                        _insert(conn, entries)
                        .on_conflict_do_nothing(index_elements=["bank_id", "signal_type", "value"])
                        .returning(entries.c.id, entries.c.signal_type, entries.c.value)
                    )
                    got = [tuple(r) for r in conn.execute(stmt, rows)]
                if got:
                    self._touch(conn, bank_id)
                    by_type: dict[str, list[int]] = {}
                    for entry_id, stype, _ in got:
                        by_type.setdefault(stype, []).append(entry_id)
                    for stype, ids in sorted(by_type.items()):
                        log_bank_change(conn, bank_id, bank_name, "add", signal_type=stype, entry_ids=ids)
            duplicates += len(rows) - len(got)
            added.extend(got)
        added.sort()
        return AddResult(added=added, duplicates=duplicates)

    def set_entries_enabled(
        self, bank_name: str, signal_type: str, values: Iterable[str], enabled: bool
    ) -> list[tuple[int, str]]:
        """Enable or disable entries; returns only the rows whose state changed."""
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be True or False, got {enabled!r}")
        return self._change_entries(
            bank_name,
            signal_type,
            values,
            lambda where: update(entries).where(*where, entries.c.enabled != enabled).values(enabled=enabled),
            "enable" if enabled else "disable",
        )

    def remove_entries(self, bank_name: str, signal_type: str, values: Iterable[str]) -> list[tuple[int, str]]:
        return self._change_entries(
            bank_name, signal_type, values, lambda where: delete(entries).where(*where), "remove"
        )

    def _change_entries(
        self, bank_name: str, signal_type: str, values: Iterable[str], statement, op: str
    ) -> list[tuple[int, str]]:
        """Run ``statement(where)`` over the bank's entries of one signal type
        whose value is in ``values``, in chunks; return the (id, value) rows it
        touched, and bump the bank's updated_at only if there were any."""
        touched: list[tuple[int, str]] = []
        frame_ids: list[int] = []
        with self._write() as conn:
            bank_id = self._bank_id(conn, bank_name)
            for chunk in _chunks(values, IN_CHUNK):
                where = (entries.c.bank_id == bank_id, entries.c.signal_type == signal_type, entries.c.value.in_(chunk))
                if op == "remove":
                    # The frames go with their entries (ON DELETE CASCADE):
                    # caches need their ids to drop them from frame indexes.
                    frame_ids += (
                        conn.execute(
                            select(video_frames.c.id)
                            .join(entries, entries.c.id == video_frames.c.entry_id)
                            .where(*where)
                        )
                        .scalars()
                        .all()
                    )
                touched += conn.execute(statement(where).returning(entries.c.id, entries.c.value)).all()
            if touched:
                self._touch(conn, bank_id)
                log_bank_change(
                    conn,
                    bank_id,
                    bank_name,
                    op,
                    signal_type=signal_type,
                    entry_ids=sorted(r[0] for r in touched),
                    detail={"frame_ids": sorted(frame_ids)} if frame_ids else None,
                )
        return sorted(tuple(r) for r in touched)

    def iter_entries(
        self,
        bank_name: str,
        signal_type: str | None = None,
        enabled_only: bool = True,
        batch: int = 100_000,
    ) -> Iterator[EntryRow]:
        """Stream a bank's entries in id order.

        Pages by id (keyset) with a short transaction per page instead of one
        long cursor, so iterating a huge bank never pins a snapshot (or a
        SQLite WAL checkpoint) for the whole iteration.  Rows changed during
        iteration may or may not be seen.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)  # raise now, not at first next()
        return self._iter_entries(bank_id, signal_type, enabled_only, batch)

    def _iter_entries(self, bank_id, signal_type, enabled_only, batch) -> Iterator[EntryRow]:
        query = select(entries).where(entries.c.bank_id == bank_id)
        if signal_type is not None:
            query = query.where(entries.c.signal_type == signal_type)
        if enabled_only:
            query = query.where(entries.c.enabled.is_(True))
        for r in self._keyset_pages(query, entries.c.id, batch):
            yield EntryRow(**r._mapping)

    def _keyset_pages(self, query, id_column, batch: int) -> Iterator:
        """The rows of ``query`` in ``id_column`` order, one short read
        transaction per page of ``batch`` rows (keyset pagination)."""
        last_id = None
        while True:
            page = query if last_id is None else query.where(id_column > last_id)
            with self._read() as conn:
                rows = conn.execute(page.order_by(id_column).limit(batch)).all()
            yield from rows
            if len(rows) < batch:
                return
            last_id = rows[-1].id

    def count_entries(self, bank_name: str) -> dict[str, dict[str, int]]:
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)
            rows = conn.execute(
                select(entries.c.signal_type, entries.c.enabled, func.count())
                .where(entries.c.bank_id == bank_id)
                .group_by(entries.c.signal_type, entries.c.enabled)
            ).all()
        out: dict[str, dict[str, int]] = {}
        for signal_type, enabled, n in rows:
            counts = out.setdefault(signal_type, {"enabled": 0, "disabled": 0})
            counts["enabled" if enabled else "disabled"] += n
        return out

    def exact_lookup(self, signal_type: str, values: list[str], bank_names: list[str]) -> list[tuple[str, int, str]]:
        """Enabled entries of the named banks whose value is in ``values``.

        Unknown bank names match nothing, and a bank's own ``enabled`` flag
        is not consulted: the caller chose the banks (resolve and check them
        once at the start of a run).
        """
        if not values or not bank_names:
            return []
        unique_values = list(dict.fromkeys(values))
        names = list(dict.fromkeys(bank_names))
        out: list[tuple[str, int, str]] = []
        with self._read() as conn:
            for chunk in _chunks(unique_values, IN_CHUNK):
                out += conn.execute(
                    select(banks.c.name, entries.c.id, entries.c.value)
                    .join(banks, banks.c.id == entries.c.bank_id)
                    .where(
                        entries.c.signal_type == signal_type,
                        entries.c.value.in_(chunk),
                        entries.c.enabled.is_(True),
                        banks.c.name.in_(names),
                    )
                ).all()
        return sorted((tuple(r) for r in out), key=lambda r: r[1])

    def entry_values(self, entry_ids: list[int]) -> dict[int, str]:
        """Values of entries by id, for explaining PDQ index hits (the index
        holds codes by id, the database holds the canonical hex)."""
        out: dict[int, str] = {}
        if not entry_ids:
            return out
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(entry_ids)), IN_CHUNK):
                out.update(conn.execute(select(entries.c.id, entries.c.value).where(entries.c.id.in_(chunk))).all())
        return out

    # ------------------------------------------------------------------ runs

    def start_run(self, run_id: str, *, args: dict, out_dir: str | None) -> None:
        """Create a run, or mark an existing one running again (resume).

        A resumed run keeps its original ``started_at`` and counts; ``args``
        and ``out_dir`` are replaced by the resuming invocation's.
        """
        if not isinstance(run_id, str) or not 0 < len(run_id) <= 255:
            raise ValueError(f"run id must be a string of 1-255 characters, got {run_id!r}")
        if not isinstance(args, dict):
            raise ValueError(f"args must be a dict, got {type(args).__name__}")
        out_dir = None if out_dir is None else clean_text(str(out_dir))
        with self._write() as conn:
            stmt = _insert(conn, runs).values(
                id=run_id,
                args=_clean_json(args),
                out_dir=out_dir,
                status="running",
                counts=None,
                started_at=utcnow(),
                finished_at=None,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "status": "running",
                    "finished_at": None,
                    "args": stmt.excluded.args,
                    "out_dir": stmt.excluded.out_dir,
                },
            )
            conn.execute(stmt)

    def finish_run(self, run_id: str, *, status: str, counts: dict) -> None:
        if status not in FINAL_RUN_STATUSES:
            raise ValueError(f"run status must be one of {', '.join(FINAL_RUN_STATUSES)}; got {status!r}")
        with self._write() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, counts=_clean_json(counts), finished_at=utcnow())
            )
            if result.rowcount == 0:
                raise RunNotFound(f"no scan run {run_id!r}")

    def get_run(self, run_id: str) -> dict | None:
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return dict(row._mapping) if row else None

    def record_items(self, run_id: str, records: list[dict]) -> None:
        """Store scan results, replacing any earlier record with the same key.

        All records go in one transaction, so a crash leaves either all or
        none of them and ``finished_keys()`` never reports a half-written
        item.  Strings are passed through ``clean_text`` first.
        """
        prepared: dict[str, tuple[dict, list[dict]]] = {}
        now = utcnow()
        for record in records:
            if not isinstance(record, dict):
                raise ValueError(f"record must be a dict, got {type(record).__name__}")
            for field in ("key", "path"):
                if not isinstance(record.get(field), str) or not record[field]:
                    raise ValueError(f"record needs a non-empty string {field!r}: {record!r:.200}")
            rec = _clean_json(record)
            error = rec.get("error")
            if error is not None and not isinstance(error, dict):
                raise ValueError(f"record 'error' must be a dict or None, got {error!r}")
            provenance = rec.get("provenance")
            if provenance is not None and not isinstance(provenance, dict):
                raise ValueError(f"record 'provenance' must be a dict or None, got {provenance!r}")
            key_hash = _key_hash(rec["key"])
            item = {
                "run_id": run_id,
                "key_hash": key_hash,
                "key": rec["key"],
                "path": rec["path"],
                "size": _opt_int(rec, "size"),
                "media_type": _opt_str(rec, "media_type"),
                "width": _opt_int(rec, "width"),
                "height": _opt_int(rec, "height"),
                "md5": _opt_str(rec, "md5"),
                "sha256": _opt_str(rec, "sha256"),
                "pdq": _opt_str(rec, "pdq"),
                "pdq_quality": _opt_int(rec, "pdq_quality"),
                "error_code": None if error is None else _opt_str(error, "code"),
                "error_message": None if error is None else _opt_str(error, "message"),
                "provenance": provenance,
                "record": rec,
                "recorded_at": now,
            }
            item_matches = []
            for m in rec.get("matches") or ():
                if not isinstance(m, dict):
                    raise ValueError(f"match must be a dict, got {m!r}")
                for field in ("bank", "bank_kind", "signal_type"):
                    if not isinstance(m.get(field), str):
                        raise ValueError(f"match needs a string {field!r}: {m!r}")
                item_matches.append(
                    {
                        "bank": m["bank"],
                        "bank_kind": m["bank_kind"],
                        "signal_type": m["signal_type"],
                        "entry_id": _opt_int(m, "entry_id"),
                        "value": _opt_str(m, "value"),
                        "distance": _opt_int(m, "distance"),
                        "variant": _opt_str(m, "variant"),
                        "suppressed": bool(m.get("suppressed", False)),
                    }
                )
            # A key repeated within one call: the last record wins, as it
            # would across calls.
            prepared.pop(key_hash, None)
            prepared[key_hash] = (item, item_matches)
        if not prepared:
            return
        with self._write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFound(f"no scan run {run_id!r}; call start_run first")
            for chunk in _chunks(prepared, IN_CHUNK):
                # Ids first, then deletes by id: both are index lookups, and
                # the common first-time record skips the deletes entirely.
                # Matches are deleted explicitly for the same reason as in
                # delete_bank.
                doomed = (
                    conn.execute(select(items.c.id).where(items.c.run_id == run_id, items.c.key_hash.in_(chunk)))
                    .scalars()
                    .all()
                )
                if doomed:
                    conn.execute(delete(matches).where(matches.c.item_id.in_(doomed)))
                    conn.execute(delete(items).where(items.c.id.in_(doomed)))
            ids = dict(
                (key_hash, item_id)
                for item_id, key_hash in conn.execute(
                    items.insert().returning(items.c.id, items.c.key_hash),
                    [item for item, _ in prepared.values()],
                )
            )
            match_rows = [{**m, "item_id": ids[key_hash]} for key_hash, (_, ms) in prepared.items() for m in ms]
            if match_rows:
                conn.execute(matches.insert(), match_rows)

    def finished_keys(self, run_id: str) -> set[str]:
        """Keys recorded for the run (successes and per-item errors alike)."""
        with self._read() as conn:
            return set(conn.execute(select(items.c.key).where(items.c.run_id == run_id)).scalars())

    def run_items(self, run_id: str) -> Iterator[dict]:
        """The stored records of a run, in the order they were (last) recorded."""
        last_id = None
        while True:
            query = select(items.c.id, items.c.record).where(items.c.run_id == run_id)
            if last_id is not None:
                query = query.where(items.c.id > last_id)
            with self._read() as conn:
                rows = conn.execute(query.order_by(items.c.id).limit(RUN_ITEMS_BATCH)).all()
            for row in rows:
                yield row.record
            if len(rows) < RUN_ITEMS_BATCH:
                return
            last_id = rows[-1].id

    # ----------------------------------------------------------- video frames

    def add_video_frames(
        self, bank_name: str, frames_by_entry: dict[int, list[tuple[str, int, float]]]
    ) -> list[tuple[int, str]]:
        """Store the ``(pdq, quality, timestamp)`` frames of ``vpdq`` entries
        just added to the bank; returns ``(frame id, pdq)`` for indexing.

        Entries that already have frames are skipped, so re-running an
        interrupted add is safe.
        """
        out: list[tuple[int, str]] = []
        with self._write() as conn:
            bank_id = self._bank_id(conn, bank_name)
            wanted = list(frames_by_entry)
            known = set()
            for chunk in _chunks(wanted, IN_CHUNK):
                known |= set(
                    conn.execute(
                        select(entries.c.id).where(entries.c.id.in_(chunk), entries.c.bank_id == bank_id)
                    ).scalars()
                )
                known -= set(
                    conn.execute(
                        select(video_frames.c.entry_id).where(video_frames.c.entry_id.in_(chunk)).distinct()
                    ).scalars()
                )
            rows = []
            for entry_id, frames in frames_by_entry.items():
                if entry_id not in known:
                    continue
                seen: set[str] = set()
                for pos, (pdq, quality, ts) in enumerate(frames):
                    rows.append(
                        {
                            "entry_id": entry_id,
                            "bank_id": bank_id,
                            "position": pos,
                            "pdq": pdq,
                            "quality": int(quality),
                            "timestamp": float(ts),
                            "duplicate": pdq in seen,
                        }
                    )
                    seen.add(pdq)
            for chunk in _chunks(rows, ENTRY_CHUNK):
                out += [
                    tuple(r)
                    for r in conn.execute(video_frames.insert().returning(video_frames.c.id, video_frames.c.pdq), chunk)
                ]
            if rows:
                self._touch(conn, bank_id)
                log_bank_change(
                    conn,
                    bank_id,
                    bank_name,
                    "frames",
                    signal_type="vpdq",
                    entry_ids=sorted({r["entry_id"] for r in rows}),
                )
        return out

    def iter_video_frames(
        self,
        bank_name: str,
        *,
        enabled_only: bool = True,
        entry_ids: list[int] | None = None,
        batch: int = 100_000,
    ) -> Iterator[VideoFrameRow]:
        """A bank's video frames in id order (keyset-paged like iter_entries)."""
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)
        query = select(
            video_frames.c.id,
            video_frames.c.entry_id,
            video_frames.c.position,
            video_frames.c.pdq,
            video_frames.c.quality,
            video_frames.c.timestamp,
            video_frames.c.duplicate,
        ).where(video_frames.c.bank_id == bank_id)
        if enabled_only:
            query = query.join(entries, entries.c.id == video_frames.c.entry_id).where(entries.c.enabled.is_(True))
        if entry_ids is not None:
            query = query.where(video_frames.c.entry_id.in_(list(entry_ids)))
        return self._iter_video_frames(query, batch)

    def _iter_video_frames(self, query, batch: int) -> Iterator[VideoFrameRow]:
        for r in self._keyset_pages(query, video_frames.c.id, batch):
            yield VideoFrameRow(*r)

    def count_video_frames(self, bank_name: str, *, enabled_only: bool = True) -> int:
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)
            query = select(func.count()).select_from(video_frames).where(video_frames.c.bank_id == bank_id)
            if enabled_only:
                query = query.join(entries, entries.c.id == video_frames.c.entry_id).where(entries.c.enabled.is_(True))
            return int(conn.execute(query).scalar() or 0)

    def get_video_settings(self, bank_name: str) -> tuple[float, float] | None:
        """``(query_match_pct, bank_match_pct)``, or None for the defaults."""
        with self._read() as conn:
            bank_id = self._bank_id(conn, bank_name)
            row = conn.execute(
                select(video_settings.c.query_match_pct, video_settings.c.bank_match_pct).where(
                    video_settings.c.bank_id == bank_id
                )
            ).first()
        return (float(row[0]), float(row[1])) if row else None

    def set_video_settings(self, bank_name: str, query_match_pct: float, bank_match_pct: float) -> None:
        for field, value in (("query_match_pct", query_match_pct), ("bank_match_pct", bank_match_pct)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise ValueError(f"{field} must be a number from 0 to 100, got {value!r}")
        with self._write() as conn:
            bank_id = self._bank_id(conn, bank_name)
            stmt = _insert(conn, video_settings).values(
                bank_id=bank_id, query_match_pct=float(query_match_pct), bank_match_pct=float(bank_match_pct)
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["bank_id"],
                set_={"query_match_pct": stmt.excluded.query_match_pct, "bank_match_pct": stmt.excluded.bank_match_pct},
            )
            conn.execute(stmt)
            self._touch(conn, bank_id)
            log_bank_change(
                conn,
                bank_id,
                bank_name,
                "video_settings",
                detail={"query_match_pct": query_match_pct, "bank_match_pct": bank_match_pct},
            )
