"""`tripline serve`, `tripline audit verify|export`,
`tripline apikey create|revoke|list` (users: user_cmd.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tripline import config as tconfig
from tripline.cli.common import DbOpt, HomeOpt, fail
from tripline.cli.config_cmd import ConfigOpt, load_or_fail

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (services).", no_args_is_help=True)

RolesOpt = Annotated[
    str,
    typer.Option(
        "--roles",
        "-r",
        help="Comma-separated: admin, policy-manager, reviewer, child-safety-reviewer, auditor, integration.",
    ),
]


def open_store_audit(home: str | None, db: str | None):
    from tripline.audit import AuditLog
    from tripline.store import Store
    from tripline.vault import audit_head_key

    url = tconfig.db_url(db, tconfig.home_dir(home))
    try:
        store = Store(url)
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot open database {url}: {exc}")
    # With TRIPLINE_VAULT_KEY_FILE set, CLI appends key the head like the server's.
    return store, AuditLog(store.engine, head_key=audit_head_key())


def serve(
    home: HomeOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (service.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (service.port).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (service.workers).")] = None,
    policy: Annotated[str | None, typer.Option(help="Policy TOML (default: the built-in policy).")] = None,
    insecure_cookies: Annotated[
        bool, typer.Option("--insecure-cookies", help="Drop the Secure cookie flag (plain-HTTP development only).")
    ] = False,
    allow_url_fetch: Annotated[
        bool,
        typer.Option(
            "--allow-url-fetch", help="Let HMA ?url= endpoints fetch media (off by default: no outbound calls)."
        ),
    ] = False,
    allow_private_urls: Annotated[
        bool, typer.Option("--allow-private-urls", help="Also allow private, loopback and link-local URL targets.")
    ] = False,
    rate: Annotated[float | None, typer.Option(help="Requests per second per principal (per worker).")] = None,
    trusted_origin: Annotated[
        list[str] | None, typer.Option(help="Extra origins allowed for console form posts.")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="uvicorn log level.")] = None,
) -> None:
    """Run the HTTP service and review console (FastAPI + uvicorn). Settings: --config FILE or
    $TRIPLINE_CONFIG, overridden by TRIPLINE_* variables and these options. Probes: /healthz, /readyz.
    On PostgreSQL it refuses an old schema (run `tripline db upgrade`) or a missing shared secret."""
    import uvicorn

    from tripline.service.app import check_can_serve
    from tripline.service.config import ServiceConfig

    if config is not None:
        load_or_fail(config)
    cfg = ServiceConfig.from_settings(
        home=home,
        db=db,
        policy=policy,
        cookie_secure=False if insecure_cookies else None,
        allow_url_fetch=allow_url_fetch or None,
        allow_private_urls=allow_private_urls or None,
        rate_per_second=rate,
        rate_burst=int(rate * 2) if rate else None,
        trusted_origins=list(trusted_origin) if trusted_origin else None,
    )
    try:
        # Once here, so a misconfigured instance fails before any worker starts
        # (and the SQLite secret file is created once, not raced by workers).
        check_can_serve(cfg)
    except Exception as exc:  # noqa: BLE001 - configuration, schema or connection problems
        fail(f"cannot serve: {exc}")
    cfg.secret_key = None
    os.environ.update(cfg.to_env())
    level = tconfig.get("service.log_level", log_level)
    uvicorn.run(
        "tripline.service.app:create_app_from_env",
        factory=True,
        host=tconfig.get("service.host", host),
        port=tconfig.get("service.port", port),
        workers=tconfig.get("service.workers", workers),
        log_level=level,
        access_log=level in ("info", "debug", "trace"),
        proxy_headers=False,
        server_header=False,
    )


@audit_app.command("verify")
def audit_verify(
    home: HomeOpt = None,
    db: DbOpt = None,
    head: Annotated[
        str | None, typer.Option(help="Expected head SEQ:HASH, recorded earlier outside the database.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited or deleted."""
    store, log = open_store_audit(home, db)
    from tripline.audit import parse_anchor

    expected = None
    if head:
        try:
            expected = parse_anchor(head)
        except ValueError as exc:
            store.close()
            fail(str(exc))
    try:
        res = log.verify(expected)
    finally:
        store.close()
    if as_json:
        print(json.dumps(res.to_dict()))
    else:
        state = "OK" if res.ok else "BROKEN"
        print(f"audit log {state}: {res.entries} entries, head {res.head_seq}:{res.head_hash}")
        for p in res.problems:
            print(f"  - {p}")
    raise typer.Exit(0 if res.ok else 1)


@audit_app.command("export")
def audit_export(
    home: HomeOpt = None,
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
    since_seq: Annotated[int, typer.Option(help="Only entries after this sequence number.")] = 0,
    actor: Annotated[str, typer.Option(help="Who is exporting (recorded in the log).")] = "cli",
) -> None:
    """Export the audit log as JSON lines (verifiable offline: each line has prev_hash and hash)."""
    store, log = open_store_audit(home, db)
    try:
        log.append(f"cli:{actor}", "audit.export", None, {"since_seq": since_seq})
        with open(out, "w", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout) as f:
            for e in log.entries(since_seq=since_seq):
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
    finally:
        store.close()


@key_app.command("create")
def key_create(name: str, roles: RolesOpt, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Create an API key; it is printed once and stored only hashed."""
    from tripline.service.auth import Accounts

    store, log = open_store_audit(home, db)
    try:
        key = Accounts(store.engine, log).create_key(name, roles, actor="cli")
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    print(key)


@key_app.command("revoke")
def key_revoke(name: str, home: HomeOpt = None, db: DbOpt = None) -> None:
    """Revoke an API key (effective within seconds on every instance)."""
    from tripline.service.auth import Accounts

    store, log = open_store_audit(home, db)
    try:
        ok = Accounts(store.engine, log).revoke_key(name, actor="cli")
    finally:
        store.close()
    if not ok:
        fail(f"no API key named {name!r}")


@key_app.command("list")
def key_list(home: HomeOpt = None, db: DbOpt = None) -> None:
    """List API keys (names, prefixes, roles; never the secrets)."""
    from tripline.service.auth import Accounts

    store, log = open_store_audit(home, db)
    try:
        for k in Accounts(store.engine, log).list_keys():
            print(json.dumps(k))
    finally:
        store.close()


review_media_app = typer.Typer(help="Encrypted review media (uploads of flagged items).", no_args_is_help=True)


@review_media_app.command("purge")
def review_media_purge(
    home: HomeOpt = None,
    db: DbOpt = None,
    days: Annotated[int, typer.Option(help="Keep media last flagged within this many days.")] = 90,
    media_dir: Annotated[
        str | None, typer.Option(help="Review media folder (default TRIPLINE_HOME/review-media).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """Delete review media past its retention period (audited). Evidence that must
    be kept longer is preserved in the evidence vault when its report is built."""
    from tripline.service.config import ServiceConfig
    from tripline.vault.keys import KeyError_, key_provider_from_env
    from tripline.vault.review_media import ReviewMedia

    if days < 1:
        fail("--days must be at least 1")
    try:
        keys = key_provider_from_env()
    except KeyError_:
        keys = None
    root = ServiceConfig(home=home, db=db, media_dir=media_dir).media_path()
    purged = ReviewMedia(root, keys, retention_days=days).purge(dry_run=dry_run)
    if not dry_run:
        store, log = open_store_audit(home, db)
        try:
            log.append(
                "cli:operator",
                "review_media.purge",
                None,
                {"days": days, "purged": len(purged), "sha256": purged[:100]},
            )
        finally:
            store.close()
    print(json.dumps({"purged": purged, "dry_run": dry_run}))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
    app.add_typer(key_app, name="apikey")
    app.add_typer(review_media_app, name="review-media")
