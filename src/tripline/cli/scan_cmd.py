"""`tripline scan PATH... [--bank NAME...] [--out DIR] [--workers N] [--db URL]`

Exit codes (see README):
  0  every item scanned, nothing matched
  1  at least one item matched a bank (matches win: they are what a script
     must act on), even if other items had errors
  2  no match, but some items had per-item errors (or a usage error)
  3  the scan itself failed and did not finish (output folder unwritable or
     full, an internal error); results.jsonl holds whole lines only and a
     rerun with the same --out resumes
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from tripline.banks import BankError
from tripline.classifiers.base import ClassifierConfigError
from tripline.cli.common import DbOpt, HomeOpt, fail, open_banks
from tripline.media import Limits

console = Console(stderr=True)

EXIT_CLEAN, EXIT_MATCHED, EXIT_ITEM_ERRORS, EXIT_SCAN_FAILED = 0, 1, 2, 3


def print_summary(summary: dict, out_dir: Path) -> None:
    c = summary["counts"]
    inv = summary["this_invocation"]
    table = Table(title="Tripline scan", show_header=False)
    table.add_row("items", str(c["items"]))
    for label, n in summary.get("decisions", {}).get("by_decision", {}).items():
        table.add_row(f"  decision: {label}", str(n))
    table.add_row("flagged (matched a bank)", f"[bold red]{c['flagged']}[/]" if c["flagged"] else "0")
    table.add_row("allow-listed", str(c["allow_listed"]))
    table.add_row("errors", str(c["errors"]))
    for bank, n in c["flagged_by_bank"].items():
        table.add_row(f"  flagged by {bank}", str(n))
    for code, n in c["errors_by_code"].items():
        table.add_row(f"  error {code}", str(n))
    table.add_row("skipped (never opened)", str(c.get("skipped", 0)))
    for code, n in c.get("skipped_by_code", {}).items():
        table.add_row(f"  {code}", str(n))
    for kind, n in c.get("synthetic", {}).items():
        label = "no AI-generation evidence" if kind == "none" else f"AI-generated ({kind})"
        table.add_row(f"  provenance: {label}", str(n))
    table.add_row("scanned now / resumed", f"{inv['scanned']} / {inv['skipped_already_done']}")
    table.add_row("rate", f"{inv['items_per_second']} items/s" if inv["items_per_second"] else "-")
    table.add_row("results", str(out_dir / "results.jsonl"))
    table.add_row("report", str(out_dir / "report.html"))
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("scan")
    def scan(
        paths: Annotated[list[Path], typer.Argument(help="Files, folders, zip or tar archives.")],
        bank: Annotated[
            list[str] | None,
            typer.Option("--bank", "-b", help="Bank to match (repeatable; default every enabled bank)."),
        ] = None,
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                "-o",
                help="Output folder: results.jsonl, summary.json, report.html. Re-running with the same folder resumes.",
            ),
        ] = Path("tripline-out"),
        workers: Annotated[
            int | None, typer.Option(help="Worker processes (default: all cores; 0 = in-process).")
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Start over instead of resuming the output folder's run.")
        ] = False,
        exact: Annotated[
            bool, typer.Option("--exact", help="Hash exactly as python-threatexchange (slower; no EXIF orientation).")
        ] = False,
        exact_dihedral: Annotated[
            bool,
            typer.Option(
                "--exact-dihedral",
                help="Recompute the rotation/mirror variants that PDQ's single-transform shortcut gets slightly wrong for some image sizes (full recall on rotated copies; up to 7x hashing cost on such sizes).",
            ),
        ] = False,
        no_robust: Annotated[
            bool,
            typer.Option(
                "--no-robust",
                help="Skip border/banner normalisation of uploads (faster; misses framed and captioned copies).",
            ),
        ] = False,
        no_keypoints: Annotated[
            bool,
            typer.Option(
                "--no-keypoints",
                help="Skip the keypoint stage for banks built from images (~8 ms less per item; misses off-centre crops).",
            ),
        ] = False,
        no_provenance: Annotated[bool, typer.Option("--no-provenance", help="Skip AI-provenance reading.")] = False,
        policy: Annotated[
            Path | None,
            typer.Option("--policy", help="Policy file (TOML); default: the policy shipped with Tripline."),
        ] = None,
        max_seconds: Annotated[float, typer.Option(help="Time limit per item.")] = Limits.max_seconds,
        max_pixels: Annotated[
            int, typer.Option(help="Pixel limit per image (decompression bombs).")
        ] = Limits.max_pixels,
        max_worker_memory: Annotated[
            int, typer.Option(help="Memory cap per worker process, MiB (0 = none); an item needing more fails alone.")
        ] = 3072,
        follow_links: Annotated[
            bool,
            typer.Option(
                "--follow-links",
                help="Follow symbolic links found inside the folders, as long as they lead to a file or folder inside the scanned paths (default: list them as skipped_link).",
            ),
        ] = False,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Hash every image under PATHS and match it against hash banks."""
        from tripline.policy import PolicyError, default_policy, load_policy
        from tripline.scan import ScanOptions, run_scan

        try:
            active_policy = load_policy(policy) if policy else default_policy()
        except PolicyError as exc:
            fail(f"invalid policy: {exc}")

        options = ScanOptions(
            limits=Limits(max_seconds=max_seconds, max_pixels=max_pixels),
            exact=exact,
            exact_dihedral=exact_dihedral,
            robust=not no_robust,
            keypoints=not no_keypoints,
            provenance=not no_provenance,
            max_worker_memory=max_worker_memory * 1024**2,
        )
        bar = Progress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} items/s"),
            TextColumn("flagged {task.fields[flagged]}"),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        task = bar.add_task("scan", total=None, rate="-", flagged=0, errors=0)

        def on_progress(p) -> None:
            import time

            elapsed = max(time.monotonic() - p.started, 1e-6)
            bar.update(
                task,
                total=p.total,
                completed=p.done,
                flagged=p.flagged,
                errors=p.errors,
                rate=f"{(p.done - p.skipped) / elapsed:.1f}",
            )

        with open_banks(home, db) as banks:
            try:
                with bar:
                    result = run_scan(
                        [str(p) for p in paths],
                        out_dir=out,
                        store=banks.store,
                        banks=banks,
                        bank_names=bank or None,
                        options=options,
                        policy=active_policy,
                        workers=workers,
                        fresh=fresh,
                        on_progress=on_progress,
                        follow_links=follow_links,
                    )
            except (BankError, ClassifierConfigError) as exc:
                fail(str(exc))  # a classifier that cannot open is named before anything is scanned
            except OSError as exc:
                fail(
                    f"the scan stopped: cannot write to the output folder {out}: "
                    f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}",
                    EXIT_SCAN_FAILED,
                )
            except Exception as exc:  # noqa: BLE001 - a crash must not look like "matches found"
                fail(f"the scan stopped on an internal error: {type(exc).__name__}: {exc}", EXIT_SCAN_FAILED)
        print_summary(result.summary, out)
        counts = result.summary["counts"]
        raise typer.Exit(EXIT_MATCHED if counts["flagged"] else EXIT_ITEM_ERRORS if counts["errors"] else EXIT_CLEAN)
