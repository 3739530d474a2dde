"""Persistent storage for ingested accounts, posts, their media's scan records
and lead verification state.

A single SQLite file through the standard library, behind this one class, so
that the data can later move into ``tripline.store`` (SQLAlchemy) without the
detection code noticing: callers only use the methods below.
"""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from tripline.distribution.model import Account, Post

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, handle TEXT, display_name TEXT, bio TEXT, links TEXT, created TEXT,
    extracted TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, text TEXT, hashtags TEXT, links TEXT, media TEXT,
    created TEXT, extracted TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS posts_account ON posts(account_id);
CREATE TABLE IF NOT EXISTS media (
    key TEXT PRIMARY KEY, sha256 TEXT, md5 TEXT, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS media_sha256 ON media(sha256);
CREATE INDEX IF NOT EXISTS media_md5 ON media(md5);
CREATE TABLE IF NOT EXISTS lead_state (
    lead_id TEXT PRIMARY KEY, state TEXT NOT NULL, by TEXT, note TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

LEAD_STATES = ("unverified", "verified", "rejected")


def default_path(home: str | Path | None = None) -> Path:
    from tripline import config

    return config.home_dir(home) / "distribution.sqlite"


class DistributionRepository:
    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(_SCHEMA)
        self.db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> DistributionRepository:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writes -----------------------------------------------------------
    def put_accounts(self, rows: Iterable[tuple[Account, list[dict]]]) -> int:
        data = [(a.id, a.handle, a.display_name, a.bio, json.dumps(a.links), a.created, json.dumps(ex))
                for a, ex in rows]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO accounts VALUES (?,?,?,?,?,?,?)", data)
        return len(data)

    def put_posts(self, rows: Iterable[tuple[Post, list[dict]]]) -> int:
        data = [(p.id, p.account_id, p.text, json.dumps(p.hashtags), json.dumps(p.links), json.dumps(p.media),
                 p.created, json.dumps(ex)) for p, ex in rows]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO posts VALUES (?,?,?,?,?,?,?,?)", data)
        return len(data)

    def put_media_records(self, records: Iterable[dict]) -> int:
        data = []
        for r in records:
            key = r.get("key") or r.get("path") or r.get("sha256")
            if not key:
                continue
            data.append((str(key), (r.get("sha256") or "").lower() or None, (r.get("md5") or "").lower() or None,
                         json.dumps(r)))
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO media VALUES (?,?,?,?)", data)
        return len(data)

    def set_lead_state(self, lead_id: str, state: str, by: str | None = None, note: str | None = None) -> None:
        if state not in LEAD_STATES:
            raise ValueError(f"lead state must be one of {', '.join(LEAD_STATES)}")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO lead_state VALUES (?,?,?,?,?)", (lead_id, state, by, note, at))

    def set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    # --- reads ------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def accounts(self) -> Iterator[tuple[Account, list[dict]]]:
        for r in self.db.execute("SELECT id, handle, display_name, bio, links, created, extracted FROM accounts ORDER BY id"):
            yield Account(r[0], r[1] or "", r[2] or "", r[3] or "", json.loads(r[4] or "[]"), r[5] or ""), json.loads(r[6])

    def account(self, account_id: str) -> Account | None:
        r = self.db.execute("SELECT id, handle, display_name, bio, links, created FROM accounts WHERE id=?",
                            (account_id,)).fetchone()
        return Account(r[0], r[1] or "", r[2] or "", r[3] or "", json.loads(r[4] or "[]"), r[5] or "") if r else None

    def posts(self) -> Iterator[tuple[Post, list[dict]]]:
        for r in self.db.execute("SELECT id, account_id, text, hashtags, links, media, created, extracted FROM posts ORDER BY account_id, id"):
            yield (Post(r[0], r[1], r[2] or "", json.loads(r[3]), json.loads(r[4]), json.loads(r[5]), r[6] or ""),
                   json.loads(r[7]))

    def counts(self) -> dict:
        q = lambda t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        return {"accounts": q("accounts"), "posts": q("posts"), "media_records": q("media")}

    def media_record(self, ref: dict) -> dict | None:
        """The scan record for a post's media reference, if one was loaded."""
        kind, value = ref["kind"], ref["value"]
        if kind in ("sha256", "md5"):
            row = self.db.execute(f"SELECT record FROM media WHERE {kind}=? LIMIT 1", (value,)).fetchone()
            if row:
                return json.loads(row[0])
            if not ref.get("path"):
                return None
            value = ref["path"]
        for key in dict.fromkeys((value, os.path.normpath(os.path.abspath(value)))):
            row = self.db.execute("SELECT record FROM media WHERE key=?", (key,)).fetchone()
            if row:
                return json.loads(row[0])
        return None

    def lead_states(self) -> dict[str, dict]:
        return {r[0]: {"state": r[1], "by": r[2], "note": r[3], "at": r[4]}
                for r in self.db.execute("SELECT lead_id, state, by, note, at FROM lead_state")}
