"""Migrations, models and engine set-up of tripline.store."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from tripline.store import Store
from tripline.store.engine import MIGRATIONS_DIR, current_revision, head_revision, make_engine, normalise_url
from tripline.store.models import Base


def test_models_match_migration_head(db_url):
    Store(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_open_migrates_to_head_and_reopen_is_noop(db_url):
    with Store(db_url) as store:
        store.create_bank("keep")
        assert current_revision(store.engine) == head_revision()
    with Store(db_url) as store:
        assert [b.name for b in store.list_banks()] == ["keep"]
        tables = set(inspect(store.engine).get_table_names())
    assert {"banks", "bank_entries", "scan_runs", "scan_items", "item_matches"} <= tables


def test_unknown_revision_is_refused(db_url):
    Store(db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'fromthefuture'"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer Tripline"):
        Store(db_url)


def test_concurrent_first_open(db_url):
    """Two processes starting on a fresh database must not both create tables."""
    errors = []

    def open_store():
        try:
            Store(db_url).close()
        except Exception as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(db_url) as store:
        assert current_revision(store.engine) == head_revision()


def test_sqlite_pragmas(sqlite_url):
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_sqlite_memory():
    with Store("sqlite://") as store:
        store.create_bank("b")
        store.add_entries("b", [("md5", "0" * 32, None)])
        assert store.count_entries("b") == {"md5": {"enabled": 1, "disabled": 0}}


@pytest.mark.parametrize(
    "url, driver",
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_normalise_url(url, driver):
    assert normalise_url(url).drivername == driver


def test_unsupported_url():
    with pytest.raises(ValueError, match="unsupported database URL"):
        normalise_url("mysql://u:secret@h/db")


def test_plain_postgresql_url_works(pg_url):
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with Store(plain) as store:
        assert store.engine.dialect.driver == "psycopg"
        store.create_bank("b")


def test_migrations_are_package_files():
    # Located via __file__, so the same path works from a wheel and an editable install.
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
