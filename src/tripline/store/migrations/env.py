"""Alembic environment for the Tripline store.

Normally driven by ``Store`` (see ``tripline.store.engine.migrate``), which
hands over an open connection already inside a locked transaction.  The
engine-from-URL branch is only for developers running the ``alembic`` CLI
with ``src/tripline/store/alembic.ini``.
"""

from __future__ import annotations

from alembic import context

from tripline.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from tripline.store.engine import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported for the Tripline store")
run_migrations_online()
