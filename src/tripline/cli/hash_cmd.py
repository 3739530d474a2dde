"""`tripline hash FILE... [--json] [--exact]`"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tripline.hashing import hash_bytes
from tripline.media import Limits
from tripline.model import ItemError
from tripline.scan.walker import key_of, read_regular, refusal


def hash_file(path: Path, exact: bool, limits: Limits = Limits()) -> dict:
    key, raw_b64 = key_of(str(path))
    out: dict = {"path": key}
    if raw_b64:
        out["path_b64"] = raw_b64
    refused = refusal(str(path))
    if refused is not None:  # links, FIFOs, devices: never opened, nothing of them printed
        out["error"] = refused
        return out
    try:
        data = read_regular(str(path), limits.max_bytes)
    except ItemError as exc:
        out["error"] = exc.to_dict()
        return out
    h = hash_bytes(data, limits, exact=exact)
    out.update(
        media_type=h.media_type,
        width=h.width,
        height=h.height,
        pdq=h.pdq,
        pdq_quality=h.pdq_quality,
        md5=h.md5,
        sha256=h.sha256,
    )
    if h.error is not None:
        out["error"] = h.error.to_dict()
    return out


def register(app: typer.Typer) -> None:
    @app.command("hash")
    def hash_cmd(
        files: Annotated[list[Path], typer.Argument(help="Image files to hash.")],
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per file.")] = False,
        exact: Annotated[
            bool,
            typer.Option(
                "--exact", help="Bit-identical to python-threatexchange: full-resolution decode, stored orientation."
            ),
        ] = False,
    ) -> None:
        """Hash images: PDQ (+quality), MD5 and SHA-256. Exit 2 if any file failed."""
        failed = False
        table = None if as_json else Table("path", "type", "size", "pdq", "q", "md5", "error")
        for path in files:
            rec = hash_file(path, exact)
            failed |= "error" in rec
            if as_json:
                typer.echo(json.dumps(rec))
            else:
                err = rec.get("error")
                table.add_row(
                    escape(rec["path"]),
                    rec.get("media_type") or "-",
                    f"{rec['width']}x{rec['height']}" if rec.get("width") else "-",
                    rec.get("pdq") or "-",
                    str(rec.get("pdq_quality") if rec.get("pdq_quality") is not None else "-"),
                    rec.get("md5") or "-",
                    escape(f"{err['code']}: {err['message']}") if err else "",
                )
        if table is not None:
            Console().print(table)
        raise typer.Exit(2 if failed else 0)
