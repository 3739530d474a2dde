"""``tripline plugins``: what the tripline.plugins entry points loaded, from
which package, and which failed (a failed plug-in is skipped, never fatal)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
        """List loaded plug-ins, what each adds, and any that failed to load."""
        from tripline.plugins import registry

        reg = registry().to_dict()
        if as_json:
            typer.echo(json.dumps(reg, indent=2))
            return
        table = Table("plug-in", "package", "adds")
        for p in reg["loaded"]:
            adds = "; ".join(
                f"{kind.replace('_', ' ')}: {', '.join(names)}" for kind, names in p["provides"].items() if names
            )
            table.add_row(p["name"], f"{p['package']} {p['version']}".strip(), adds or "-")
        console = Console()
        console.print(table)
        for f in reg["failed"]:
            console.print(
                f"[red]failed[/red] {f['entry_point']} ({f['package']}): {f['error']}", markup=True, highlight=False
            )
