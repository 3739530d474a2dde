"""`tripline bank ...`: create, list, add, import, export, remove, disable,
enable, set, stats, reindex, delete."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tripline import signals
from tripline.banks import FORMATS, BankError, FormatError, ParseReport, parse, validate_signal, write
from tripline.cli.common import DbOpt, HomeOpt, fail, open_banks

bank_app = typer.Typer(help="Manage hash banks (lists of known content).", no_args_is_help=True)
console = Console()

TypeOpt = Annotated[
    str | None, typer.Option("--type", "-t", help="Signal type: pdq, md5 or sha256 (MD5 is guessed from length).")
]


def _typed_values(values: list[str], signal_type: str | None) -> list[tuple[str, str]]:
    out = []
    for v in values:
        stype = signal_type or ("md5" if len(v.strip()) == 32 else None)
        if stype is None:
            fail(f"{v[:16]}…: 64 hex digits may be a PDQ hash or a SHA-256; pass --type pdq or --type sha256")
        try:
            out.append((stype, validate_signal(stype, v)))
        except ValueError as exc:
            fail(str(exc))
    return out


def _image_entries(
    paths: list[Path], note: str | None, regions: dict[str, list[tuple[int, str]]], keypoints: dict[str, object] | None
):
    """PDQ, MD5 and SHA-256 entries for every image under ``paths``; the
    region hashes of each image (crops, banner-free parts) go into ``regions``
    and its ORB keypoints into ``keypoints`` (None: none taken), so the bank
    also matches cropped, framed and captioned copies."""
    from tripline.hashing import hash_bytes
    from tripline.scan.walker import walk

    for item in walk([str(p) for p in paths]):
        try:
            h = hash_bytes(item.read(), bank_regions=True, keypoints=keypoints is not None)
        except Exception as exc:  # noqa: BLE001
            console.print(f"[yellow]skipped[/] {item.key}: {exc}")
            continue
        label = note or item.key
        yield ("md5", h.md5, label)
        yield ("sha256", h.sha256, label)
        if h.pdq:
            regions[h.pdq] = [(code, hx) for code, hx, _ in h.pdq_regions]
            if keypoints is not None and h.keypoints is not None:
                keypoints[h.pdq] = h.keypoints
            yield ("pdq", h.pdq, label)
        elif h.error:
            console.print(f"[yellow]no PDQ for[/] {item.key}: {h.error.message}")


def _report_import(name: str, result, report: ParseReport | None = None) -> None:
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(result.by_type.items())) or "nothing new"
    console.print(f"bank [bold]{name}[/]: added {result.added} ({by_type}); {result.duplicates} already present")
    if report:
        for lineno, reason in report.bad_lines[:20]:
            console.print(f"[yellow]line {lineno}[/]: {reason}")
        if len(report.bad_lines) > 20:
            console.print(f"[yellow]… and {len(report.bad_lines) - 20} more bad lines[/]")
        for stype, n in report.unsupported.items():
            console.print(f"[yellow]skipped {n} entries of unsupported signal type {stype!r}[/]")


@bank_app.command("create")
def create(
    name: str,
    kind: Annotated[
        str, typer.Option(help="'match' (known bad) or 'allow' (known benign: suppresses other matches).")
    ] = "match",
    threshold: Annotated[int, typer.Option(help="PDQ match threshold, inclusive (0-256).")] = 31,
    quality_min: Annotated[int, typer.Option(help="Ignore PDQ hashes of query images below this quality.")] = 50,
    description: Annotated[str, typer.Option()] = "",
    source: Annotated[str, typer.Option(help="Where the list comes from (exchange, partner, own review).")] = "",
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Create an empty bank."""
    _check_threshold(threshold, quality_min)
    with open_banks(home, db) as banks:
        try:
            banks.create(
                name,
                kind=kind,
                pdq_threshold=threshold,
                pdq_quality_min=quality_min,
                description=description,
                source=source,
            )
        except ValueError as exc:
            fail(str(exc))
    console.print(f"created bank [bold]{name}[/] ({kind}, PDQ ≤ {threshold}, quality ≥ {quality_min})")


def _check_threshold(threshold: int | None, quality_min: int | None) -> None:
    if threshold is not None and not 0 <= threshold <= 256:
        fail("--threshold must be between 0 and 256")
    if quality_min is not None and not 0 <= quality_min <= 100:
        fail("--quality-min must be between 0 and 100")


@bank_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False, home: HomeOpt = None, db: DbOpt = None) -> None:
    """List banks with their settings and entry counts."""
    with open_banks(home, db) as banks:
        rows = []
        for b in banks.store.list_banks():
            counts = banks.store.count_entries(b.name)
            rows.append(
                {
                    "name": b.name,
                    "kind": b.kind,
                    "enabled": b.enabled,
                    "pdq_threshold": b.pdq_threshold,
                    "pdq_quality_min": b.pdq_quality_min,
                    "entries": counts,
                    "description": b.description,
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("bank", "kind", "enabled", "PDQ ≤", "quality ≥", *signals.entry_type_names(), "disabled")
    for r in rows:
        c = r["entries"]
        enabled = [str(c.get(t, {}).get("enabled", 0)) for t in signals.entry_type_names()]
        disabled = sum(v.get("disabled", 0) for v in c.values())
        table.add_row(
            r["name"],
            r["kind"],
            "yes" if r["enabled"] else "no",
            str(r["pdq_threshold"]),
            str(r["pdq_quality_min"]),
            *enabled,
            str(disabled),
        )
    console.print(table)


@bank_app.command("add")
def add(
    name: str,
    values: Annotated[list[str] | None, typer.Argument(help="Hash values to add.")] = None,
    signal_type: TypeOpt = None,
    image: Annotated[
        list[Path] | None,
        typer.Option("--image", help="Hash these image files or folders and add their PDQ, MD5 and SHA-256."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Note stored with each entry.")] = None,
    no_keypoints: Annotated[
        bool,
        typer.Option(
            "--no-keypoints",
            help="With --image: store no ORB keypoints (4.6 KB per image; without them off-centre crops are not matched).",
        ),
    ] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Add hashes, or the hashes of images, to a bank."""
    if not values and not image:
        fail("give hash values or --image PATH")
    entries = [(t, v, note) for t, v in _typed_values(values or [], signal_type)]
    regions: dict[str, list[tuple[int, str]]] = {}
    keypoints: dict[str, object] | None = None if no_keypoints else {}
    with open_banks(home, db) as banks:
        try:
            # A list, not a generator: regions and keypoints are filled while
            # hashing and must be complete before the bank stores them.
            from_images = list(_image_entries(image, note, regions, keypoints)) if image else []
            result = banks.add(name, [*entries, *from_images], regions=regions, keypoints=keypoints)
        except BankError as exc:
            fail(str(exc))
    _report_import(name, result)


@bank_app.command("import")
def import_(
    name: str,
    file: Annotated[Path, typer.Argument(help="Hash list file, or - for standard input.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "csv",
    signal_type: Annotated[
        str | None,
        typer.Option("--signal-type", help="Type of every row, for files that do not say (e.g. a plain PDQ list)."),
    ] = None,
    create: Annotated[bool, typer.Option("--create", help="Create the bank if it does not exist.")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Import a hash list: CSV (signal_type,signal[,note]), python-threatexchange/HMA signal files (tx), or plain MD5/SHA-256 lists."""
    report = ParseReport()
    with open_banks(home, db) as banks:
        if create and banks.store.get_bank(name) is None:
            banks.create(name)
        try:
            fh = sys.stdin if str(file) == "-" else open(file, encoding="utf-8", errors="replace")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        try:
            with console.status(f"importing into {name}…"):
                result = banks.add(name, parse(fh, fmt, report, signal_type=signal_type))
        except (BankError, FormatError) as exc:
            fail(str(exc))
        finally:
            if fh is not sys.stdin:
                fh.close()
    _report_import(name, result, report)
    if report.bad_lines:
        raise typer.Exit(1)


@bank_app.command("export")
def export(
    name: str,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default standard output).")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Export a bank's entries (enabled and disabled)."""
    with open_banks(home, db) as banks:
        try:
            lines = write(banks.export(name), fmt)
            if output:
                tmp = output.with_name(f".{output.name}.tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.writelines(lines)
                tmp.replace(output)
            else:
                sys.stdout.writelines(lines)
        except (BankError, FormatError) as exc:
            fail(str(exc))


def _entry_command(action: str):
    def command(
        name: str,
        values: Annotated[
            list[str] | None, typer.Argument(help="Hash values; none with disable/enable means the whole bank.")
        ] = None,
        signal_type: TypeOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        with open_banks(home, db) as banks:
            try:
                if not values:
                    if action == "remove":
                        fail("give the hash values to remove (to delete the whole bank use `tripline bank delete`)")
                    banks.update(name, enabled=(action == "enable"))
                    console.print(f"bank [bold]{name}[/] {action}d")
                    return
                n = 0
                by_type: dict[str, list[str]] = {}
                for t, v in _typed_values(values, signal_type):
                    by_type.setdefault(t, []).append(v)
                for t, vs in by_type.items():
                    if action == "remove":
                        n += banks.remove(name, t, vs)
                    else:
                        n += banks.set_enabled(name, t, vs, action == "enable")
            except BankError as exc:
                fail(str(exc))
        console.print(f"{action}d {n} of {len(values)} entries in [bold]{name}[/]")

    command.__doc__ = {
        "remove": "Remove hashes from a bank (takes effect immediately).",
        "disable": "Disable hashes (or, with no values, the whole bank) without deleting them.",
        "enable": "Re-enable hashes (or, with no values, the whole bank).",
    }[action]
    return command


for _action in ("remove", "disable", "enable"):
    bank_app.command(_action)(_entry_command(_action))


@bank_app.command("set")
def set_(
    name: str,
    threshold: Annotated[int | None, typer.Option(help="PDQ threshold, inclusive.")] = None,
    quality_min: Annotated[int | None, typer.Option(help="Minimum query PDQ quality.")] = None,
    kind: Annotated[str | None, typer.Option(help="match or allow.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Change a bank's settings."""
    _check_threshold(threshold, quality_min)
    fields = {
        k: v
        for k, v in {
            "pdq_threshold": threshold,
            "pdq_quality_min": quality_min,
            "kind": kind,
            "description": description,
        }.items()
        if v is not None
    }
    if kind is not None and kind not in ("match", "allow"):
        fail("--kind must be 'match' or 'allow'")
    with open_banks(home, db) as banks:
        try:
            banks.update(name, **fields)
        except BankError as exc:
            fail(str(exc))
    console.print(f"updated bank [bold]{name}[/]: {fields}")


@bank_app.command("stats")
def stats(name: str, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Size, index memory and last update of a bank, as JSON."""
    with open_banks(home, db) as banks:
        try:
            typer.echo(json.dumps(banks.stats(name), indent=2, default=str))
        except BankError as exc:
            fail(str(exc))


@bank_app.command("reindex")
def reindex(name: str, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Rebuild a bank's indexes from the database, here and in every serving process (through the change log)."""
    with open_banks(home, db) as banks:
        try:
            n = banks.rebuild_index(name)
            console.print(f"rebuilt the index of [bold]{name}[/]: {n} PDQ entries; serving processes rebuild theirs")
        except BankError as exc:
            fail(str(exc))


@bank_app.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deleting the bank and all its entries.")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Delete a bank and all its entries."""
    if not yes:
        fail("deleting a bank removes all its entries; pass --yes to confirm")
    with open_banks(home, db) as banks:
        try:
            banks.delete(name)
        except BankError as exc:
            fail(str(exc))
    console.print(f"deleted bank [bold]{name}[/]")


def register(app: typer.Typer) -> None:
    app.add_typer(bank_app, name="bank")
