"""Shared database fixtures.

``db_url`` runs a test once on SQLite and once on PostgreSQL; ``sqlite_url``
and ``pg_url`` pin one backend.  Every PostgreSQL test gets a fresh database
``tripline_test_<random>`` on the server named by TRIPLINE_TEST_PG, dropped
afterwards.  If that server is unreachable the PostgreSQL tests are skipped,
except under CI (env CI set), where silently skipping the production backend
would hide failures, so they fail instead.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_TEST_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _admin_url():
    url = make_url(os.environ.get("TRIPLINE_TEST_PG") or DEFAULT_TEST_PG)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def pytest_collection_modifyitems(config, items):
    # Tests that take pg_url directly get the marker without having to
    # remember it, so `-m "not postgres"` always deselects them.
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_admin_engine():
    """Autocommit engine on the maintenance database (CREATE/DROP DATABASE)."""
    url = _admin_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        engine.dispose()
        msg = (
            f"PostgreSQL unreachable at {url.render_as_string(hide_password=True)} "
            f"(set TRIPLINE_TEST_PG to a server URL): {str(exc).splitlines()[0]}"
        )
        if os.environ.get("CI"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin_engine):
    name = f"tripline_test_{uuid.uuid4().hex[:12]}"
    with pg_admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_admin_engine.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with pg_admin_engine.connect() as conn:
            # A test that forgot to close its Store must not leak databases.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture
def sqlite_url(tmp_path):
    # A not-yet-existing subdirectory: opening a store must create it.
    return f"sqlite:///{tmp_path / 'db' / 'tripline.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def banks(tmp_path, db_url):
    """Banks over a fresh database (SQLite and PostgreSQL), index files in tmp_path."""
    from tripline.banks import Banks
    from tripline.store import Store

    store = Store(db_url)
    b = Banks(store, tmp_path / "index")
    yield b
    b.close()
    store.close()
