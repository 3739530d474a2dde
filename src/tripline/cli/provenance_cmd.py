"""`tripline provenance FILE...`: what each file says about how it was made.

With ``--json`` one JSON object per line per file (the provenance record plus
``"path"``); an unreadable file gives ``{"path", "error": {"code", "message"}}``
and the others go on. Exit code 0, or 2 when any file errored.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _read_pem(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read trust anchors {path}: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise typer.BadParameter(f"{path} holds no PEM certificate")
    return text


def _summary(console, path: str, rec: dict) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    colour = {"verified": "red", "declared": "yellow", "likely": "magenta", "none": "green"}[rec["synthetic"]]
    table = Table(
        title=f"{escape(path)}  synthetic: [{colour}]{rec['synthetic']}[/]",
        show_header=False,
        title_justify="left",
        expand=False,
    )
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")

    def row(label: str, value: str) -> None:
        # Every value comes from the file: shown as text, never read as markup.
        table.add_row(escape(label), Text(value))

    g = rec.get("generator")
    if g:
        row("generator", " ".join(str(x) for x in (g["tool"], g["version"]) if x) + f" ({g['family']})")
    for key in ("prompt", "negative_prompt"):
        if rec.get(key):
            text = rec[key]
            row(key, text if len(text) <= 400 else text[:400] + "…")
    for m in rec.get("models") or []:
        w = f" weight {m['weight']}" if m.get("weight") is not None else ""
        row(m["kind"], f"{m['name']}" + (f" [{m['hash']}]" if m.get("hash") else "") + w)
    for key in ("seed", "sampler", "steps"):
        if rec.get(key) is not None:
            row(key, str(rec[key]))
    c = rec["c2pa"]
    if c["present"]:
        row(
            "c2pa",
            f"{c['validation_state']}; {c['claim_generator'] or '?'}; issuer {c['issuer'] or '?'}; "
            f"source types {', '.join(s.rsplit('/', 1)[-1] for s in c['digital_source_types']) or '-'}",
        )
    if rec.get("iptc_digital_source_type"):
        row("iptc", rec["iptc_digital_source_type"])
    if rec.get("tc260_label"):
        row("tc260", json.dumps(rec["tc260_label"], ensure_ascii=False))
    for w in rec.get("watermarks") or []:
        row("watermark", f"{w['scheme']} {w['payload']} {w['bits_matched']}/{w['bits_total']} ({w['confidence']})")
    for e in rec.get("evidence") or []:
        row(f"evidence ({e['strength']})", e["detail"])
    for e in rec.get("errors") or []:
        table.add_row(Text("note", style="dim"), Text(f"{e['source']}: {e['message']}", style="dim"))
    console.print(table)


def provenance(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE...", help="Image or media files to read.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON record per line."),
    no_watermarks: bool = typer.Option(False, "--no-watermarks", help="Skip invisible-watermark decoding."),
    trust_anchors: Path | None = typer.Option(
        None, "--trust-anchors", metavar="PEM", help="PEM bundle of C2PA trust anchors."
    ),
) -> None:
    """Read AI-generation provenance: generator metadata, C2PA, IPTC/TC260 labels, watermarks."""
    from rich.console import Console
    from rich.markup import escape

    from tripline.model import ItemError
    from tripline.provenance import ProvenanceOptions, read_provenance
    from tripline.scan.walker import key_of, read_regular, refusal

    options = ProvenanceOptions(watermarks=not no_watermarks, trust_anchors_pem=_read_pem(trust_anchors))
    console = Console()
    failed = False
    for path in files:
        name = str(path)
        rec = None
        error = refusal(name)
        if error is None:
            try:
                record = read_provenance(read_regular(name, options.max_bytes), options=options)
                error = record.item_error
                rec = record.to_dict()
            except ItemError as exc:
                error = exc.to_dict()
        name = key_of(name)[0]
        if error is not None:
            failed = True
            if as_json:
                typer.echo(json.dumps({"path": name, "error": error}, ensure_ascii=False))
            else:
                console.print(f"[bold red]{escape(name)}[/]: {error['code']}: {escape(error['message'])}")
            continue
        if as_json:
            typer.echo(json.dumps({"path": name, **rec}, ensure_ascii=False))
        else:
            _summary(console, name, rec)
    raise typer.Exit(2 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("provenance")(provenance)
