"""`tripline backfill --source SRC... --sink DEST [--engine local|ray] [--address ADDR] [--rematch]`

Runs the scan pipeline as a sharded, resumable batch job (docs/backfill.md).
Exit codes as for scan: 1 when any item matched a bank, else 2 when any item
failed, else 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tripline.cli.common import DbOpt, HomeOpt, fail, open_banks
from tripline.media import Limits


def print_summary(summary: dict, sink: str) -> None:
    c = summary["counts"]
    inv = summary["this_invocation"]
    table = Table(title=f"Tripline backfill ({summary['mode']}, {summary['status']})", show_header=False)
    table.add_row("items", str(c["items"]))
    for label, n in sorted(c["by_decision"].items()):
        table.add_row(f"  decision: {label}", str(n))
    table.add_row("flagged (matched a bank)", f"[bold red]{c['flagged']}[/]" if c["flagged"] else "0")
    for bank, n in sorted(c["flagged_by_bank"].items()):
        table.add_row(f"  flagged by {bank}", str(n))
    table.add_row("errors", str(c["errors"]))
    for code, n in sorted(c["errors_by_code"].items()):
        table.add_row(f"  error {code}", str(n))
    sh = summary["shards"]
    table.add_row("shards done / total (resumed)", f"{sh['done']} / {sh['total']} ({sh['resumed']})")
    table.add_row("this run", f"{inv['items']} items in {inv['seconds']} s = {inv['items_per_second']} items/s")
    table.add_row("sink", sink)
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("backfill")
    def backfill(
        source: Annotated[
            list[str],
            typer.Option(
                "--source",
                "-s",
                help="Folder, file or archive; PROTO://prefix (any fsspec filesystem, e.g. s3://bucket/uploads/); or manifest:FILE (JSONL or Parquet of URIs). Repeatable. With --rematch: a scan's results.jsonl (or its folder) or an earlier backfill's sink.",
            ),
        ],
        sink: Annotated[
            str,
            typer.Option(
                "--sink",
                help="Output: local folder or fsspec URL; Parquet partitioned by decision, plus _checkpoint.json and _summary.json. Re-running with the same sink resumes.",
            ),
        ],
        engine: Annotated[str, typer.Option(help="local (this machine's processes) or ray (Ray Data).")] = "local",
        address: Annotated[
            str | None,
            typer.Option(help="Ray cluster address (e.g. ray://head:10001 or auto); default: a local Ray instance."),
        ] = None,
        workers: Annotated[
            int | None, typer.Option(help="Worker processes / Ray actors (default: all cores; local 0 = in-process).")
        ] = None,
        shard_size: Annotated[
            int, typer.Option(help="Units (files, objects, archives) per shard: the unit of checkpointing and retry.")
        ] = 256,
        rematch: Annotated[
            bool,
            typer.Option(
                "--rematch", help="Join stored hashes against the current banks and policy; never decodes media."
            ),
        ] = False,
        bank: Annotated[
            list[str] | None,
            typer.Option("--bank", "-b", help="Bank to match (repeatable; default every enabled bank)."),
        ] = None,
        policy: Annotated[
            Path | None, typer.Option("--policy", help="Policy file (TOML); default: the policy shipped with Tripline.")
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Delete the sink's earlier output and checkpoint and start over.")
        ] = False,
        no_db: Annotated[bool, typer.Option("--no-db", help="Do not record flagged items in the database.")] = False,
        no_provenance: Annotated[bool, typer.Option("--no-provenance", help="Skip AI-provenance reading.")] = False,
        max_seconds: Annotated[float, typer.Option(help="Time limit per item.")] = Limits.max_seconds,
        max_pixels: Annotated[
            int, typer.Option(help="Pixel limit per image (decompression bombs).")
        ] = Limits.max_pixels,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Scan (or re-match) a large source as a sharded, resumable batch job, locally or on Ray."""
        from tripline.banks import BankError

        try:
            from tripline.batch import BackfillError, run_backfill
        except ImportError as exc:  # the batch extra is optional
            fail(f"backfill needs the batch extra ({exc.name} is missing): pip install 'tripline[batch]'")
        from tripline.policy import PolicyError, default_policy, load_policy
        from tripline.scan import ScanOptions

        if engine not in ("local", "ray"):
            fail("--engine must be local or ray")
        try:
            active_policy = load_policy(policy) if policy else default_policy()
        except PolicyError as exc:
            fail(f"invalid policy: {exc}")
        options = ScanOptions(
            limits=Limits(max_seconds=max_seconds, max_pixels=max_pixels), provenance=not no_provenance
        )
        last = [0.0]

        def on_progress(p) -> None:
            now = time.monotonic()
            if now - last[0] >= 1.0 or p.shards_done == p.shards_total:
                last[0] = now
                print(p.line(), file=sys.stderr, flush=True)

        with open_banks(home, db) as banks:
            try:
                result = run_backfill(
                    list(source),
                    sink,
                    banks=banks,
                    store=None if no_db else banks.store,
                    bank_names=bank or None,
                    policy=active_policy,
                    options=options,
                    engine=engine,
                    address=address,
                    workers=workers,
                    shard_size=shard_size,
                    rematch=rematch,
                    fresh=fresh,
                    on_progress=on_progress,
                )
            except (BankError, BackfillError, FileNotFoundError, ValueError) as exc:
                fail(str(exc))
        print_summary(result.summary, result.sink)
        counts = result.summary["counts"]
        raise typer.Exit(1 if counts["flagged"] else 2 if counts["errors"] else 0)
