"""`tripline video ...`: hash videos, bank them, import/export vPDQ signal
files, set a bank's video thresholds, and match videos against banks.

Mounted by tripline.cli with ``from tripline.video import cli; cli.register(app)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tripline.cli.common import DbOpt, HomeOpt, fail, open_banks

video_app = typer.Typer(help="Video: vPDQ hashing, video banks and matching.", no_args_is_help=True)

EveryOpt = Annotated[
    bool, typer.Option("--every-frame", help="Hash every frame (conformance mode) instead of one per second.")
]


def _frames_or_fail(path: Path, every: bool):
    from tripline.model import ItemError
    from tripline.video import hash_video

    try:
        return hash_video(path.read_bytes(), seconds_per_hash=0 if every else 1.0)
    except ItemError as exc:
        fail(f"{path}: {exc.code}: {exc.message}")
    except OSError as exc:
        fail(f"{path}: {exc}")


@video_app.command("hash")
def hash_cmd(
    files: list[Path],
    every_frame: EveryOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The whole record (hashes, vPDQ, provenance) as JSON.")
    ] = False,
) -> None:
    """Print each video's vPDQ as a python-threatexchange signal line, or its record."""
    from tripline.video import VideoOptions, process_video_item, to_te_signal

    status = 0
    for path in files:
        if as_json:
            record, _ = process_video_item(
                path.read_bytes(), VideoOptions(seconds_per_hash=0 if every_frame else 1.0, thumbnails=False)
            )
            record["path"] = str(path)
            status = status or (2 if record.get("error") else 0)
            print(json.dumps(record))
        else:
            print(f"vpdq {to_te_signal(_frames_or_fail(path, every_frame))} {path.name}")
    raise typer.Exit(status)


@video_app.command("bank-add")
def bank_add(
    bank: str,
    files: list[Path],
    note: Annotated[str | None, typer.Option(help="Note stored with each entry (default: the file name).")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Hash videos (1 frame per second) and add them, and their MD5 and SHA-256, to BANK."""
    from tripline.banks.video import VideoBanks
    from tripline.hashing import digests

    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        try:
            for path in files:
                frames = _frames_or_fail(path, False)
                d = digests(path.read_bytes())
                label = note or path.name
                res = vb.add(bank, [(frames, label)])
                banks.add(bank, [("md5", d["md5"], label), ("sha256", d["sha256"], label)])
                print(f"{path}: {'added' if res.added else 'already present'} ({len(frames)} frames)")
        finally:
            vb.close()


@video_app.command("bank-import")
def bank_import(bank: str, file: Path, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Import the vPDQ lines of a python-threatexchange / HMA signal file."""
    from tripline.banks.video import VideoBanks

    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        try:
            with open(file, encoding="utf-8", errors="replace") as fh:
                res, bad = vb.import_tx(bank, fh)
        finally:
            vb.close()
    print(f"bank {bank}: added {res.added} videos; {res.duplicates} already present; {len(bad)} bad lines")
    for lineno, reason in bad[:20]:
        print(f"  line {lineno}: {reason}", file=sys.stderr)


@video_app.command("bank-export")
def bank_export(
    bank: str,
    out: Annotated[Path | None, typer.Option("-o", "--out")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Write BANK's videos as a python-threatexchange signal file."""
    from tripline.banks.video import VideoBanks

    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        fh = open(out, "w", encoding="utf-8") if out else sys.stdout
        try:
            fh.writelines(vb.export_tx(bank))
        finally:
            if out:
                fh.close()
            vb.close()


@video_app.command("bank-set")
def bank_set(
    bank: str,
    query_pct: Annotated[
        float | None, typer.Option("--query-pct", help="Share of the query's frames that must match (default 80).")
    ] = None,
    bank_pct: Annotated[
        float | None,
        typer.Option("--bank-pct", help="Share of the banked video's frames that must match (default 0)."),
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Set BANK's video match thresholds (frame distance and quality come from the bank's PDQ settings)."""
    from tripline.banks.video import VideoBanks

    with open_banks(home, db) as banks:
        try:
            cfg = VideoBanks.of(banks).set_thresholds(bank, query_match_pct=query_pct, bank_match_pct=bank_pct)
        except ValueError as exc:
            fail(str(exc))
    print(json.dumps(cfg.__dict__))


@video_app.command("bank-remove")
def bank_remove(bank: str, values: list[str], home: HomeOpt = None, db: DbOpt = None) -> None:
    """Remove videos from BANK by their vpdq entry value (as shown in matches)."""
    from tripline.banks.video import VideoBanks

    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        try:
            print(f"removed {vb.remove(bank, [v.strip().lower() for v in values])}")
        finally:
            vb.close()


@video_app.command("bank-stats")
def bank_stats(bank: str, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Videos, frames, thresholds and frame-index state of BANK."""
    from tripline.banks.video import VideoBanks

    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        try:
            print(json.dumps(vb.stats(bank), indent=2, default=str))
        finally:
            vb.close()


@video_app.command("match")
def match_cmd(
    files: list[Path],
    bank: Annotated[list[str] | None, typer.Option("--bank")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Match videos against the video banks; exit 1 if any matched."""
    from tripline.banks.video import VideoBanks, match_video
    from tripline.video import VideoOptions, process_video_item

    flagged = False
    with open_banks(home, db) as banks:
        vb = VideoBanks.of(banks)
        try:
            with vb.matcher(bank) as matcher:
                for path in files:
                    record, _ = process_video_item(path.read_bytes(), VideoOptions(thumbnails=False, provenance=False))
                    if record.get("error"):
                        print(json.dumps({"path": str(path), "error": record["error"]}))
                        continue
                    found = [m.to_dict() for m in match_video([record], matcher)[0]]
                    flagged = flagged or any(m["bank_kind"] == "match" for m in found)
                    print(json.dumps({"path": str(path), "matches": found}))
        finally:
            vb.close()
    raise typer.Exit(1 if flagged else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(video_app, name="video")
