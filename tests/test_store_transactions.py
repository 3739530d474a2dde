"""write_transaction / read_transaction: the one place the SQLite IMMEDIATE rule lives."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tripline.store.engine import make_engine, read_transaction, write_transaction


def _other_writer_blocked(path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


def test_write_transaction_takes_the_sqlite_write_lock_before_any_write(tmp_path):
    path = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        conn.execute(text("SELECT 1"))  # a read only: DEFERRED would not lock yet
        assert _other_writer_blocked(path)
    assert not _other_writer_blocked(path)
    with read_transaction(engine) as conn:
        conn.execute(text("SELECT 1"))
        assert not _other_writer_blocked(path)  # readers never block writers
    engine.dispose()


def test_write_transaction_commits_and_rolls_back(db_url):
    engine = make_engine(db_url)
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(RuntimeError):
        with write_transaction(engine) as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("boom")
    with read_transaction(engine) as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]
    engine.dispose()
