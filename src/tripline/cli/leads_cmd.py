"""`tripline ingest` and `tripline leads ...`: distribution signals.

    tripline ingest platform.jsonl [--results scan-out/results.jsonl]
    tripline leads [--json]                       # leads and clusters, with evidence
    tripline leads scan-media --out scan-out      # scan posts' media not yet scanned
    tripline leads verify LEAD_ID [--reject | --unset] [--by NAME]
    tripline leads export -o signals.json [--include-unverified]

Exit codes: `ingest` returns 2 if any record was rejected (the rest are
ingested); the others return 0 unless they fail.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tripline.cli.common import DbOpt, HomeOpt, fail

console = Console()
err = Console(stderr=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A separate SQLite database for distribution data (default $TRIPLINE_DISTRIBUTION_DB, else the main database, --db).",
    ),
]
ListOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--url-list",
        "-l",
        help="URL list file (.json, or text lines 'KIND VALUE'; KIND: exact, host_suffix, path_prefix, hash). Repeatable.",
    ),
]
RegistryOpt = Annotated[
    list[Path] | None,
    typer.Option("--registry", help="Extra destination registry TOML, merged over the bundled one. Repeatable."),
]
KeywordsOpt = Annotated[
    list[Path] | None,
    typer.Option("--keywords", help="Extra promotion-wording TOML, merged over the bundled one. Repeatable."),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="Decide each post's media with this policy file ('default' for the bundled one) in the post's context, instead of using the decisions stored in the scan records.",
    ),
]
PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        help="Name of this platform, as the source of exported signals (default: as set at ingest, else 'unknown').",
    ),
]


def _open(data: Path | None, home: str | None, db: str | None = None):
    """The distribution tables of the main database (or of ``--data``), with
    an old distribution.sqlite imported the first time it is found."""
    from tripline import config
    from tripline.distribution import DistributionRepository, default_path, import_legacy, is_legacy_file

    data = data or (
        Path(os.environ["TRIPLINE_DISTRIBUTION_DB"]) if os.environ.get("TRIPLINE_DISTRIBUTION_DB") else None
    )
    if data is not None:
        # A file of the old raw layout is upgraded in place: the new tables
        # are added beside the old ones and filled from them.
        target, legacy = str(data), data if is_legacy_file(data) else None
    else:
        home_dir = config.home_dir(home)
        target = config.db_url(db, home_dir)
        legacy = default_path(home_dir) if is_legacy_file(default_path(home_dir)) else None
    try:
        repo = DistributionRepository(target)
    except Exception as exc:  # noqa: BLE001 - a bad URL, unreadable file or unreachable server is a user error
        fail(f"cannot open distribution data {target}: {exc}")
    if legacy is not None:
        try:
            counts = import_legacy(repo, legacy)
        except Exception as exc:  # noqa: BLE001 - a damaged old file must not hide the new data
            repo.close()
            fail(f"cannot import the old distribution data {legacy}: {exc}; move it away to continue without it")
        if counts is not None:
            err.print(
                f"imported {legacy} ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
                "it is no longer read and can be archived",
                highlight=False,
            )
    return repo


def _users_and_audit(home: str | None, db: str | None):
    from tripline.cli.serve_cmd import open_store_audit

    return open_store_audit(home, db)


def _check_verifier(engine, username: str) -> None:
    """A lead verdict names a real, enabled person allowed to review."""
    from sqlalchemy import select

    from tripline.service.roles import allowed
    from tripline.store.review_models import User

    users = User.__table__
    with engine.connect() as conn:
        r = conn.execute(select(users.c.roles, users.c.disabled).where(users.c.username == username)).first()
    if r is None or r.disabled:
        fail(f"--by {username!r} is not an enabled Tripline user (`tripline user add`)")
    if not allowed(tuple(r.roles.split()), "lead.verify"):
        fail(f"user {username!r} has no role that may verify leads (reviewer, child-safety-reviewer, policy-manager)")


def _analyze(repo, url_list, registry, keywords, policy_path=None):
    from tripline.distribution import analyze, load_keywords
    from tripline.links import (
        DestinationRegistry,
        RegistryError,
        UrlListError,
        UrlLists,
    )

    try:
        lists = UrlLists()
        for p in url_list or []:
            lists.load(p)
        reg = DestinationRegistry.load(*(registry or []))
        kws = load_keywords(*(keywords or []))
        policy = _policy(policy_path)
    except (OSError, ValueError, RegistryError, UrlListError) as exc:
        fail(str(exc))
    return analyze(repo, lists, reg, kws, policy=policy)


def _policy(path: str | None):
    if not path:
        return None
    from tripline.policy import PolicyError, default_policy, load_policy

    try:
        return default_policy() if path == "default" else load_policy(path)
    except PolicyError as exc:
        fail(f"policy {path}: {exc}")


def _print_leads(analysis) -> None:
    if not analysis.leads:
        console.print("no distribution leads")
    table = Table(title=f"Distribution leads ({len(analysis.leads)})")
    for col in ("lead", "handle", "score", "state", "cluster", "media hits", "destinations"):
        table.add_column(col)
    for lead in analysis.leads:
        cats = sorted({d["category"] or "listed" for d in lead.destinations})
        table.add_row(
            lead.lead_id,
            lead.handle,
            f"{lead.score:.2f}",
            lead.state,
            lead.cluster_id or "-",
            str(len(lead.media_hits)),
            ", ".join(cats),
        )
    if analysis.leads:
        console.print(table)
    for lead in analysis.leads:
        console.print(f"[bold]{lead.lead_id}[/] {lead.handle} - evidence:")
        for e in lead.evidence:
            console.print("  - " + _evidence_line(e), highlight=False, markup=False)
    if analysis.clusters:
        ct = Table(title=f"Clusters ({len(analysis.clusters)})")
        for col in ("cluster", "members", "leads", "shared"):
            ct.add_column(col)
        for c in analysis.clusters:
            shared = "; ".join(f"{s['kind']} {s['value']} ({len(s['accounts'])})" for s in c.shared)
            ct.add_row(c.id, ", ".join(c.members), ", ".join(c.leads), shared)
        console.print(ct)


def _evidence_line(e: dict) -> str:
    k = e["kind"]
    if k == "media_hit":
        line = f"media {e['media']} in {e['post_id']}: {e['reason']}"
        line += f" [banks: {', '.join(e['banks'])}]" if e.get("banks") else ""
        line += f" [{e['action']} {e['priority'] or ''}]".replace(" ]", "]") if e.get("action") else ""
        synthetic = e.get("synthetic")
        return line + (f" (AI-generated: {synthetic})" if synthetic and synthetic != "none" else "")
    if k == "destination":
        extra = " [disguised]" if e["obfuscated"] else ""
        extra += f" [behind {e['decoded_from']}]" if e["decoded_from"] else ""
        extra += "".join(f" [list {m['list']}:{m['kind']}]" for m in e["list_matches"])
        return f"{e['category'] or 'listed'} link {e['canonical']} in {e['where']}{extra}"
    if k == "keyword":
        return f"wording '{e['keyword']}': \"{e['matched']}\""
    if k == "hashtag":
        return f"#{e['tag']}: {e['flagged_posts']} of {e['posts']} posts with it had flagged media"
    return json.dumps(e)


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        files: Annotated[
            list[Path], typer.Argument(help="JSONL files of accounts and posts (one JSON object a line).")
        ],
        results: Annotated[
            list[Path] | None,
            typer.Option("--results", "-r", help="A scan's results.jsonl with the posts' media records. Repeatable."),
        ] = None,
        media_root: Annotated[
            Path | None,
            typer.Option(help="Folder that relative media paths are relative to (default: each file's folder)."),
        ] = None,
        platform: PlatformOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Ingest accounts and posts (and, optionally, their media's scan results)."""
        from tripline.distribution import ingest_jsonl, load_scan_results

        repo = _open(data, home, db)
        try:
            if platform:
                repo.set_meta("source_platform", platform)
            totals = {"accounts": 0, "posts": 0, "media_records": 0, "errors": []}
            for f in files:
                if not f.exists():
                    fail(f"no such file: {f}")
                r = ingest_jsonl(repo, f, media_root=media_root)
                totals["accounts"] += r.accounts
                totals["posts"] += r.posts
                totals["errors"] += [{"file": str(f), **e} for e in r.errors]
            for rf in results or []:
                if not rf.exists():
                    fail(f"no such file: {rf}")
                totals["media_records"] += load_scan_results(repo, rf)
            if json_out:
                print(json.dumps(totals, indent=2))
            else:
                console.print(
                    f"ingested {totals['accounts']} accounts, {totals['posts']} posts, "
                    f"{totals['media_records']} media records into {repo.path}"
                )
                for e in totals["errors"][:20]:
                    err.print(f"{e['file']}:{e['line']}: {e['error']}", markup=False)
                if len(totals["errors"]) > 20:
                    err.print(f"... and {len(totals['errors']) - 20} more rejected records")
        finally:
            repo.close()
        if totals["errors"]:
            raise typer.Exit(2)

    leads_app = typer.Typer(help="Distribution leads: list, verify, export signal packets.", no_args_is_help=False)
    app.add_typer(leads_app, name="leads")

    @leads_app.callback(invoke_without_command=True)
    def leads(
        ctx: typer.Context,
        json_out: Annotated[bool, typer.Option("--json", help="Print leads, clusters and evidence as JSON.")] = False,
        url_list: ListOpt = None,
        registry: RegistryOpt = None,
        keywords: KeywordsOpt = None,
        policy: PolicyOpt = None,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """List distribution leads and clusters with their evidence."""
        if ctx.invoked_subcommand is not None:
            return
        _list(json_out, url_list, registry, keywords, policy, data, home, db)

    @leads_app.command("list")
    def list_cmd(
        json_out: Annotated[bool, typer.Option("--json", help="Print leads, clusters and evidence as JSON.")] = False,
        url_list: ListOpt = None,
        registry: RegistryOpt = None,
        keywords: KeywordsOpt = None,
        policy: PolicyOpt = None,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """List distribution leads and clusters with their evidence."""
        _list(json_out, url_list, registry, keywords, policy, data, home, db)

    def _list(json_out, url_list, registry, keywords, policy, data, home, db=None) -> None:
        repo = _open(data, home, db)
        try:
            analysis = _analyze(repo, url_list, registry, keywords, policy)
        finally:
            repo.close()
        if json_out:
            print(json.dumps(analysis.to_dict(), indent=2))
        else:
            _print_leads(analysis)

    @leads_app.command("verify")
    def verify(
        lead_id: Annotated[str, typer.Argument(help="Lead id (as listed by `tripline leads`).")],
        reject: Annotated[
            bool, typer.Option("--reject", help="Mark the lead as checked and wrong: never exported.")
        ] = False,
        unset: Annotated[bool, typer.Option("--unset", help="Back to unverified.")] = False,
        by: Annotated[
            str | None,
            typer.Option(
                "--by",
                help="The Tripline user who checked it (default $USER); must be an enabled user allowed to review.",
            ),
        ] = None,
        note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Record a human's verdict on a lead (the account and its links; not its
        media, which is confirmed in the review console). Audited. Only verified
        leads are exported by default."""
        if reject and unset:
            fail("--reject and --unset exclude each other")
        who = by or os.environ.get("USER") or ""
        repo = _open(data, home, db)
        try:
            if repo.account(lead_id) is None:
                fail(f"no account {lead_id!r} in {repo.path}")
            store, log = _users_and_audit(home, db)
            try:
                _check_verifier(store.engine, who)
                state = "rejected" if reject else "unverified" if unset else "verified"
                repo.set_lead_state(lead_id, state, by=who, note=note)
                log.append(who, "lead.verify", f"lead:{lead_id}", {"state": state, "note": (note or "")[:500]})
            finally:
                store.close()
        finally:
            repo.close()
        console.print(f"lead {lead_id}: {state} by {who}")

    @leads_app.command("export")
    def export(
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Write the packet here (default: stdout).")
        ] = None,
        include_unverified: Annotated[
            bool,
            typer.Option(
                "--include-unverified", help="Also export leads no human has verified yet (never rejected ones)."
            ),
        ] = False,
        xml: Annotated[
            bool, typer.Option("--xml", help="Write the leads' associatedAccount elements as CyberTipline XML instead.")
        ] = False,
        platform: PlatformOpt = None,
        url_list: ListOpt = None,
        registry: RegistryOpt = None,
        keywords: KeywordsOpt = None,
        policy: PolicyOpt = None,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Export leads as cross-platform signal packets (URL, username, keyword, hash)."""
        from tripline.distribution import associated_account_xml, signal_packets

        repo = _open(data, home, db)
        try:
            analysis = _analyze(repo, url_list, registry, keywords, policy)
            source = platform or repo.meta("source_platform") or "unknown"
        finally:
            repo.close()
        doc = signal_packets(analysis, source_platform=source, include_unverified=include_unverified)
        if xml:
            import xml.etree.ElementTree as ET

            root = ET.Element("associatedAccounts")
            for lead in doc["leads"]:
                for acc in lead["associatedAccount"]:
                    root.append(associated_account_xml(acc))
            ET.indent(root)
            text = ET.tostring(root, encoding="unicode") + "\n"
        else:
            text = json.dumps(doc, indent=2) + "\n"
        if out:
            out.write_text(text, encoding="utf-8")
            err.print(f"{len(doc['leads'])} leads, {len(doc['signals'])} signals -> {out}")
        else:
            sys.stdout.write(text)
        if not doc["leads"] and not include_unverified:
            err.print("no human-verified leads; `tripline leads verify LEAD_ID` or --include-unverified")

    @leads_app.command("scan-media")
    def scan_media(
        out: Annotated[Path, typer.Option("--out", "-o", help="Scan output folder (results.jsonl etc.).")] = Path(
            "tripline-out"
        ),
        bank: Annotated[
            list[str] | None,
            typer.Option("--bank", "-b", help="Bank to match (repeatable; default every enabled bank)."),
        ] = None,
        workers: Annotated[int | None, typer.Option(help="Worker processes (default: in-process).")] = 0,
        data: DataOpt = None,
        home: HomeOpt = None,
        db: DbOpt = None,
    ) -> None:
        """Scan the posts' media that have no scan record yet, and load the results."""
        from tripline.cli.common import open_banks
        from tripline.distribution import scan_post_media

        repo = _open(data, home, db)
        try:
            with open_banks(home, db) as banks:
                n = scan_post_media(repo, out_dir=out, store=banks.store, banks=banks, bank_names=bank, workers=workers)
        finally:
            repo.close()
        console.print(f"loaded {n} media records from {out / 'results.jsonl'}")
