"""Engine construction and schema migration for the store."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path, PurePath

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant that serialises concurrent migrations on one PostgreSQL
# database (two scanners starting at once against a fresh database).
_PG_MIGRATION_LOCK = 0x7472_6970_6C69_6E65 & 0x7FFF_FFFF_FFFF_FFFF  # "tripline"

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` and ``postgres://`` use psycopg 3.

    SQLAlchemy's default PostgreSQL driver is psycopg2, which Tripline does
    not depend on.
    """
    u = make_url(url) if isinstance(url, str) else url
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database URL {u.render_as_string(hide_password=True)!r}: "
            "use sqlite:///path/to.db or postgresql+psycopg://user@host/db"
        )
    return u


def _json_default(obj):
    # Records carry paths and timestamps often enough that refusing them
    # would just push the same conversion into every caller.
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


_json_dumps = functools.partial(json.dumps, default=_json_default, allow_nan=False)


def make_engine(url: str | URL) -> Engine:
    u = normalise_url(url)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u)
    return create_engine(
        u,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
    )


def _private_file(path: Path) -> None:
    """Create the database's folders 0700 and the file 0600 (it holds password,
    session and API-key digests); SQLite gives its -wal and -shm files the
    database file's mode. Existing folders and files keep theirs."""
    missing = []
    d = path.parent
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _sqlite_engine(u: URL) -> Engine:
    memory = u.database in (None, "", ":memory:")
    if not memory:
        _private_file(Path(u.database).expanduser().resolve())
    kwargs = {}
    if memory:
        # One shared connection, or every pooled connection would see its own
        # empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(u, json_serializer=_json_dumps, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control away from the sqlite3 module (which only
        # BEGINs before DML, and always DEFERRED) so the "begin" hook below
        # decides how each transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            # Durable at checkpoint rather than per commit; in WAL mode this
            # cannot corrupt the database, only lose the last commits on power loss.
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers start IMMEDIATE: a DEFERRED transaction that reads and then
        # writes can hit SQLITE_BUSY on lock upgrade without busy_timeout ever
        # being consulted.  Readers stay DEFERRED so they never block writers.
        if conn.get_execution_options().get("tripline_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def write_connection(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock up front.

    On SQLite that is ``BEGIN IMMEDIATE`` (see ``_on_begin``); a plain
    connection that reads and then writes would start DEFERRED and can fail
    with SQLITE_BUSY on lock upgrade, skipping busy_timeout. PostgreSQL
    ignores the option. Use ``write_transaction`` unless the caller manages
    several transactions on one connection.
    """
    return engine.connect().execution_options(tripline_write=True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """``with write_transaction(engine) as conn:`` one read/write transaction,
    committed on exit, rolled back on an exception."""
    with write_connection(engine) as conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction (DEFERRED on SQLite: never blocks writers)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@functools.lru_cache(maxsize=1)  # readiness probes ask often; the code's head never changes while running
def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"store migrations have {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class SchemaNotCurrent(RuntimeError):
    """The database schema is not the one this code expects (serving refuses)."""


def check_schema_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at this code's head revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaNotCurrent(f"database {where} has no Tripline schema; run `tripline db upgrade` first")
    raise SchemaNotCurrent(
        f"database {where} is at schema revision {current}, this Tripline needs {head}; "
        "run `tripline db upgrade` (once, from one place) before serving"
    )


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine):
    # SQLite has no advisory locks; an flock on a file next to the database
    # keeps two processes from running the same migration at once.
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    lock_path = Path(database).expanduser().resolve().with_name(Path(database).name + ".migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema this code knows."""
    if current_revision(engine) == head_revision():
        return  # the common case: skip the lock entirely
    with _sqlite_file_lock(engine):
        _migrate_locked(engine)


def _migrate_locked(engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    with write_connection(engine) as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            # Re-read under the lock: another process may have just migrated.
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and current not in {r.revision for r in script.walk_revisions()}:
                raise RuntimeError(
                    f"database schema is at revision {current!r}, which this version of "
                    "Tripline does not know (the database was written by a newer Tripline); "
                    "upgrade Tripline"
                )
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
