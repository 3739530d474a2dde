"""`tripline db upgrade|current`: schema migrations, run by the operator.

`tripline serve` never migrates a shared (PostgreSQL) database; an upgrade is
one deliberate step (a Kubernetes Job, a compose one-shot), serialised by a
PostgreSQL advisory lock (an flock beside a SQLite file), so instances
started together cannot race.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tripline import config as tconfig
from tripline.cli.common import DbOpt, HomeOpt, fail

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _engine(home, db):
    from tripline.store.engine import make_engine

    url = tconfig.db_url(db, tconfig.home_dir(home))
    try:
        return make_engine(url)
    except Exception as exc:  # noqa: BLE001 - a bad URL is a user error
        fail(f"cannot open database {url}: {exc}")


@db_app.command("current")
def current(home: HomeOpt = None, db: DbOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the database's schema revision and this code's; exit 1 if they differ."""
    from tripline.store.engine import current_revision, head_revision

    engine = _engine(home, db)
    try:
        cur = current_revision(engine)
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot read the schema revision: {exc}")
    finally:
        engine.dispose()
    head = head_revision()
    if as_json:
        print(json.dumps({"current": cur, "head": head, "up_to_date": cur == head}))
    else:
        print(f"current {cur or '(empty database)'}, head {head}: {'up to date' if cur == head else 'upgrade needed'}")
    raise typer.Exit(0 if cur == head else 1)


@db_app.command("upgrade")
def upgrade(home: HomeOpt = None, db: DbOpt = None) -> None:
    """Upgrade the schema to this code's head (safe to run from several places at once)."""
    from tripline.store.engine import current_revision, migrate

    engine = _engine(home, db)
    try:
        before = current_revision(engine)
        migrate(engine)
        after = current_revision(engine)
    except Exception as exc:  # noqa: BLE001
        fail(f"upgrade failed: {exc}")
    finally:
        engine.dispose()
    print(f"schema {before or '(empty)'} -> {after}" if before != after else f"schema already at {after}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
