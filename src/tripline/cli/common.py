"""Options and helpers shared by the command modules."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from tripline import config

err_console = Console(stderr=True)

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="State folder (default $TRIPLINE_HOME or ~/.local/share/tripline).")
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL: sqlite:///path or postgresql://... (default $TRIPLINE_DB or SQLite in the state folder).",
    ),
]


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def open_banks(home: str | None, db: str | None):
    """Yield a Banks over the configured database and index folder."""
    from tripline.banks import Banks
    from tripline.store import Store

    home_dir = config.home_dir(home)
    url = config.db_url(db, home_dir)
    try:
        store = Store(url)
    except Exception as exc:  # noqa: BLE001 - a bad URL or unreachable server is a user error
        fail(f"cannot open database {url}: {exc}")
    banks = Banks(store, home_dir / "index")
    try:
        yield banks
    finally:
        banks.close()
        store.close()
