"""`tripline config check|show|docs`, and the global `--config FILE` option."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tripline import config as tconfig
from tripline.cli.common import fail

config_app = typer.Typer(help="The settings file (TOML) and TRIPLINE_* variables.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help=f"Settings file (TOML; default ${tconfig.CONFIG_ENV}). Environment variables override it."
    ),
]


def load_or_fail(path: str | Path | None) -> None:
    try:
        tconfig.load(path)
    except tconfig.ConfigError as exc:
        fail(str(exc))


def _root(config: ConfigOpt = None) -> None:
    """Child-safety pipeline: hash matching, AI provenance, policy, review, reporting."""
    load_or_fail(config)


@config_app.command("check")
def check(
    file: Annotated[Path | None, typer.Argument(help="File to check (default: the active one).")] = None,
) -> None:
    """Validate a settings file and the TRIPLINE_* environment; exit 2 naming the first bad key."""
    target = file or (Path(p) if (p := os.environ.get(tconfig.CONFIG_ENV)) else None)
    try:
        values = tconfig.parse_file(target) if target is not None else {}
        tconfig.check_environment()
        tconfig.check_consistent(values)
    except tconfig.ConfigError as exc:
        fail(str(exc))
    print(f"{target or 'environment'}: OK")


@config_app.command("show")
def show() -> None:
    """Print every setting's effective value and where it comes from (secrets masked)."""
    for s, value, source in tconfig.resolved():
        shown = "***" if s.secret and value else value
        print(f"{s.key} = {shown!r}  ({source}: {s.env})")


@config_app.command("docs")
def docs() -> None:
    """Print the settings table of docs/configuration.md."""
    print(tconfig.docs_table(), end="")


def register(app: typer.Typer) -> None:
    app.callback()(_root)
    app.add_typer(config_app, name="config")
