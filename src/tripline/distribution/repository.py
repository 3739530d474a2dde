"""Persistent storage for ingested accounts, posts, their media's scan records
and lead verification state: the ``dist_*`` tables of the main Tripline
database (SQLAlchemy Core, SQLite or PostgreSQL, migration 0006).

Callers only use the methods below. ``import_legacy`` reads the
``distribution.sqlite`` file earlier versions kept beside the database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from tripline.distribution.model import Account, Post
from tripline.store.distribution_models import DistAccount, DistLeadState, DistMedia, DistMeta, DistPost
from tripline.store.engine import make_engine, migrate, read_transaction, write_transaction

LEAD_STATES = ("unverified", "verified", "rejected")
LEGACY_FILE = "distribution.sqlite"
_LEGACY_TABLES = {"accounts", "posts", "media", "lead_state", "meta"}

accounts_t: Table = DistAccount.__table__  # type: ignore[assignment]
posts_t: Table = DistPost.__table__  # type: ignore[assignment]
media_t: Table = DistMedia.__table__  # type: ignore[assignment]
leads_t: Table = DistLeadState.__table__  # type: ignore[assignment]
meta_t: Table = DistMeta.__table__  # type: ignore[assignment]

# Built once: analyze looks up every post's media, and building the statement
# each time cost more than running it.
_MEDIA_BY = {
    col: select(media_t.c.record).where(media_t.c[col] == bindparam("v")).limit(1) for col in ("sha256", "md5", "key")
}


def default_path(home: str | Path | None = None) -> Path:
    """Where earlier versions kept their distribution.sqlite."""
    from tripline import config

    return config.home_dir(home) / LEGACY_FILE


def _url(db: str | Path) -> str:
    s = str(db)
    if "://" in s:
        return s
    if s == ":memory:":
        return "sqlite://"
    return f"sqlite:///{Path(s).expanduser().resolve()}"


class DistributionRepository:
    """``DistributionRepository(db)``: ``db`` is a database URL, an Engine, or a
    path (an SQLite database there; created and migrated if new)."""

    def __init__(self, db: str | Path | Engine = ":memory:"):
        self._owns_engine = not isinstance(db, Engine)
        self.engine = make_engine(_url(db)) if not isinstance(db, Engine) else db
        migrate(self.engine)
        self._snapshot: Connection | None = None
        u = self.engine.url
        # Where the data is, for messages: the file, or the URL without its password.
        self.path = (
            (u.database or ":memory:") if u.get_backend_name() == "sqlite" else u.render_as_string(hide_password=True)
        )

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside share one read transaction: one consistent view for a
        whole analysis, and no connection set-up per media look-up."""
        if self._snapshot is not None:
            yield
            return
        with read_transaction(self.engine) as conn:
            self._snapshot = conn
            try:
                yield
            finally:
                self._snapshot = None

    def _read(self) -> AbstractContextManager[Connection]:
        return nullcontext(self._snapshot) if self._snapshot is not None else read_transaction(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> DistributionRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        keys = [c.name for c in table.primary_key.columns]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # Duplicates within one call keep the last, as INSERT OR REPLACE did.
        unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
        stmt = dialect.insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=keys, set_=update)
            if update
            else stmt.on_conflict_do_nothing(index_elements=keys)
        )
        with write_transaction(self.engine) as conn:
            conn.execute(stmt, unique)  # executemany: one compiled statement for every row
        return len(rows)

    # --- writes -----------------------------------------------------------
    def put_accounts(self, rows: Iterable[tuple[Account, list[dict]]]) -> int:
        return self._upsert(
            accounts_t,
            [
                {
                    "id": a.id,
                    "handle": a.handle,
                    "display_name": a.display_name,
                    "bio": a.bio,
                    "links": list(a.links),
                    "created": a.created,
                    "extracted": ex,
                }
                for a, ex in rows
            ],
        )

    def put_posts(self, rows: Iterable[tuple[Post, list[dict]]]) -> int:
        return self._upsert(
            posts_t,
            [
                {
                    "id": p.id,
                    "account_id": p.account_id,
                    "text": p.text,
                    "hashtags": list(p.hashtags),
                    "links": list(p.links),
                    "media": list(p.media),
                    "created": p.created,
                    "extracted": ex,
                }
                for p, ex in rows
            ],
        )

    def put_media_records(self, records: Iterable[dict]) -> int:
        data = []
        for r in records:
            key = r.get("key") or r.get("path") or r.get("sha256")
            if not key:
                continue
            data.append(
                {
                    "key": str(key),
                    "sha256": (r.get("sha256") or "").lower() or None,
                    "md5": (r.get("md5") or "").lower() or None,
                    "record": r,
                }
            )
        return self._upsert(media_t, data)

    def set_lead_state(self, lead_id: str, state: str, by: str | None = None, note: str | None = None) -> None:
        if state not in LEAD_STATES:
            raise ValueError(f"lead state must be one of {', '.join(LEAD_STATES)}")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        self._upsert(leads_t, [{"lead_id": lead_id, "state": state, "by": by, "note": note, "at": at}])

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(meta_t, [{"key": key, "value": value}])

    # --- reads ------------------------------------------------------------
    def _order(self, *cols: Any) -> list[Any]:
        # SQLite compares text bytewise; PostgreSQL's default collation does
        # not, and listings must not change order with the database.
        return [c.collate("C") for c in cols] if self.engine.dialect.name == "postgresql" else list(cols)

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._read() as conn:
            row = conn.execute(select(meta_t.c.value).where(meta_t.c.key == key)).first()
        return row[0] if row else default

    def accounts(self) -> Iterator[tuple[Account, list[dict]]]:
        t = accounts_t
        with self._read() as conn:
            rows = conn.execute(select(t).order_by(*self._order(t.c.id))).all()
        for r in rows:
            yield _account(r), list(r.extracted)

    def account(self, account_id: str) -> Account | None:
        with self._read() as conn:
            r = conn.execute(select(accounts_t).where(accounts_t.c.id == account_id)).first()
        return _account(r) if r else None

    def posts(self) -> Iterator[tuple[Post, list[dict]]]:
        t = posts_t
        with self._read() as conn:
            rows = conn.execute(select(t).order_by(*self._order(t.c.account_id, t.c.id))).all()
        for r in rows:
            yield (
                Post(r.id, r.account_id, r.text or "", list(r.hashtags), list(r.links), list(r.media), r.created or ""),
                list(r.extracted),
            )

    def counts(self) -> dict:
        with self._read() as conn:

            def n(t: Table) -> int:
                return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

            return {"accounts": n(accounts_t), "posts": n(posts_t), "media_records": n(media_t)}

    def media_record(self, ref: dict) -> dict | None:
        """The scan record for a post's media reference, if one was loaded."""
        kind, value = ref["kind"], ref["value"]
        with self._read() as conn:
            if kind in ("sha256", "md5"):
                row = conn.execute(_MEDIA_BY[kind], {"v": value}).first()
                if row:
                    return dict(row[0])
                if not ref.get("path"):
                    return None
                value = ref["path"]
            for key in dict.fromkeys((value, os.path.normpath(os.path.abspath(value)))):
                row = conn.execute(_MEDIA_BY["key"], {"v": key}).first()
                if row:
                    return dict(row[0])
        return None

    def lead_states(self) -> dict[str, dict]:
        with self._read() as conn:
            rows = conn.execute(select(leads_t)).all()
        return {r.lead_id: {"state": r.state, "by": r.by, "note": r.note, "at": r.at} for r in rows}


def _account(r: Any) -> Account:
    return Account(r.id, r.handle or "", r.display_name or "", r.bio or "", list(r.links or []), r.created or "")


def is_legacy_file(path: str | Path) -> bool:
    """A distribution.sqlite written by earlier versions (its own raw schema)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    return _LEGACY_TABLES <= names


def import_legacy(repo: DistributionRepository, path: str | Path) -> dict[str, int] | None:
    """Copy an old distribution.sqlite into ``repo`` once (later calls return
    None). The file is only read; rows already in ``repo`` are replaced, as a
    re-ingest would."""
    import json

    p = Path(path).expanduser().resolve()
    marker = f"legacy_import:{p}"
    if repo.meta(marker) is not None:
        return None
    con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        q = con.execute
        accounts = [
            (
                Account(r[0], r[1] or "", r[2] or "", r[3] or "", json.loads(r[4] or "[]"), r[5] or ""),
                json.loads(r[6] or "[]"),
            )
            for r in q("SELECT id, handle, display_name, bio, links, created, extracted FROM accounts")
        ]
        posts = [
            (
                Post(
                    r[0],
                    r[1],
                    r[2] or "",
                    json.loads(r[3] or "[]"),
                    json.loads(r[4] or "[]"),
                    json.loads(r[5] or "[]"),
                    r[6] or "",
                ),
                json.loads(r[7] or "[]"),
            )
            for r in q("SELECT id, account_id, text, hashtags, links, media, created, extracted FROM posts")
        ]
        media = [(r[0], r[1], r[2], json.loads(r[3])) for r in q("SELECT key, sha256, md5, record FROM media")]
        leads = q("SELECT lead_id, state, by, note, at FROM lead_state").fetchall()
        meta = q("SELECT key, value FROM meta").fetchall()
    finally:
        con.close()
    repo.put_accounts(accounts)
    repo.put_posts(posts)
    repo._upsert(media_t, [{"key": k, "sha256": s, "md5": m, "record": rec} for k, s, m, rec in media])
    repo._upsert(leads_t, [{"lead_id": a, "state": b, "by": c, "note": d, "at": e} for a, b, c, d, e in leads])
    repo._upsert(meta_t, [{"key": k, "value": v} for k, v in meta])
    counts = {"accounts": len(accounts), "posts": len(posts), "media_records": len(media), "lead_states": len(leads)}
    repo.set_meta(marker, json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **counts}))
    return counts
