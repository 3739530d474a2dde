"""`tripline report ...` and `tripline vault ...`: legal reports and evidence.

    tripline vault keygen KEYFILE                       # a new 32-byte master key (mode 600)
    tripline vault put FILE --reason "review item 42 confirmed" [--jurisdiction US] [--report-ref R]
    tripline vault get SHA256 -o OUT --purpose "..."
    tripline vault hold SHA256 --reason "LE request ..."  |  vault release HOLD_ID
    tripline vault purge [--dry-run]
    tripline vault export DEST --case-ref REF (--sha SHA256 ... | --report-ref R)
    tripline vault verify DEST                          # integrity check of an export package
    tripline report credentials ncmec --environment test --username U   (password from $TRIPLINE_REPORT_PASSWORD or a prompt)
    tripline report build INCIDENT.json [--external] [--destination ncmec|nca] [--reporter reporter.json] [-o report.xml]
    tripline report validate (ID | --file report.xml)
    tripline report submit ID [--max-attempts 5] [--timeout 60]
    tripline report status [ID] [--status S]

Run locally, every command acts as the operator (tripline.vault.access);
through the service, the same functions are called with the service's
principal and its roles are checked. Key: --key-file or $TRIPLINE_VAULT_KEY_FILE.
Vault folder: --vault or $TRIPLINE_VAULT (default: vault/ in the state folder).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tripline import config
from tripline.cli.common import DbOpt, HomeOpt, fail

KeyOpt = Annotated[
    str | None, typer.Option("--key-file", help="Vault master key file (default $TRIPLINE_VAULT_KEY_FILE).")
]
VaultOpt = Annotated[
    str | None, typer.Option("--vault", help="Vault folder (default $TRIPLINE_VAULT or vault/ in the state folder).")
]
ReporterOpt = Annotated[str | None, typer.Option("--reporter", help="Reporter JSON (default $TRIPLINE_REPORTER).")]

vault_app = typer.Typer(
    help="Evidence vault: encrypted preservation, holds, purge, law-enforcement export.", no_args_is_help=True
)
report_app = typer.Typer(
    help="Legal reports (NCMEC CyberTipline, UK NCA) from human-confirmed decisions.", no_args_is_help=True
)


def _print(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def _ctx(home, db, key_file, vault_dir, need_key=True):
    from tripline.store import Store
    from tripline.vault import Vault, key_provider_from_env, local_operator

    home_dir = config.home_dir(home)
    try:
        store = Store(config.db_url(db, home_dir))
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot open database: {exc}")
    try:
        keys = key_provider_from_env(key_file) if need_key else None
    except Exception as exc:  # noqa: BLE001
        store.close()
        fail(str(exc))
    root = Path(vault_dir or os.environ.get("TRIPLINE_VAULT") or home_dir / "vault")
    vault = Vault(root, store.engine, keys) if keys is not None else None
    try:
        yield store, vault, keys, local_operator()
    finally:
        store.close()


def _errors(fn):
    from tripline.report import (
        DeliveryError,
        IncidentError,
        ReportConflict,
        SchemaInvalid,
    )
    from tripline.vault import AccessDenied, VaultError

    try:
        return fn()
    except (
        ValueError,
        LookupError,
        VaultError,
        AccessDenied,
        IncidentError,
        SchemaInvalid,
        ReportConflict,
        DeliveryError,
        FileNotFoundError,
    ) as exc:
        fail(str(exc))


# -- vault -----------------------------------------------------------------
@vault_app.command("keygen")
def vault_keygen(path: str):
    from tripline.vault import write_key_file

    _errors(lambda: write_key_file(path))
    typer.echo(f"wrote a new master key to {path} (mode 600); back it up: without it the vault is unreadable")


@vault_app.command("put")
def vault_put(
    file: Path,
    reason: Annotated[str, typer.Option("--reason")],
    jurisdiction: Annotated[str, typer.Option("--jurisdiction")] = "US",
    report_ref: Annotated[str | None, typer.Option("--report-ref")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        _print(
            _errors(
                lambda: v.put(
                    file.read_bytes(), principal=me, reason=reason, jurisdiction=jurisdiction, report_ref=report_ref
                )
            )
        )


@vault_app.command("get")
def vault_get(
    sha256: str,
    out: Annotated[Path, typer.Option("-o", "--out")],
    purpose: Annotated[str, typer.Option("--purpose")],
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    from tripline.vault.vault import atomic_write

    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        data = _errors(lambda: v.get(sha256, principal=me, purpose=purpose))
        atomic_write(out, data)
        typer.echo(f"wrote {len(data)} bytes to {out}")


@vault_app.command("info")
def vault_info(sha256: str, home: HomeOpt = None, db: DbOpt = None, key_file: KeyOpt = None, vault: VaultOpt = None):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        _print(_errors(lambda: v.info(sha256, principal=me)))


@vault_app.command("hold")
def vault_hold(
    sha256: str,
    reason: Annotated[str, typer.Option("--reason")],
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        _print({"hold_id": _errors(lambda: v.hold(sha256, principal=me, reason=reason)), "sha256": sha256})


@vault_app.command("release")
def vault_release(
    hold_id: int,
    reason: Annotated[str, typer.Option("--reason")] = "",
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        _errors(lambda: v.release(hold_id, principal=me, reason=reason))
        _print({"released": hold_id})


@vault_app.command("purge")
def vault_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        v.recover()
        _print(_errors(lambda: v.purge(principal=me, dry_run=dry_run)).to_dict() | {"dry_run": dry_run})


@vault_app.command("export")
def vault_export(
    dest: Path,
    case_ref: Annotated[str, typer.Option("--case-ref")],
    sha: Annotated[list[str] | None, typer.Option("--sha")] = None,
    report_ref: Annotated[str | None, typer.Option("--report-ref")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    with _ctx(home, db, key_file, vault) as (_, v, _k, me):
        _print(
            _errors(lambda: v.export(dest, principal=me, sha256s=sha or [], report_ref=report_ref, case_ref=case_ref))
        )


@vault_app.command("verify")
def vault_verify(dest: Path):
    from tripline.vault import verify_export

    problems = verify_export(dest)
    _print({"ok": not problems, "problems": problems})
    raise typer.Exit(0 if not problems else 1)


# -- report ----------------------------------------------------------------
def _reporter(path: str | None):
    from tripline.report import ReporterConfig

    path = path or os.environ.get("TRIPLINE_REPORTER")
    if not path:
        fail("no reporter configured: pass --reporter reporter.json or set TRIPLINE_REPORTER")
    try:
        return ReporterConfig.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        fail(f"cannot read reporter {path}: {exc}")


@report_app.command("credentials")
def report_credentials(
    destination: str,
    environment: Annotated[str, typer.Option("--environment")] = "test",
    username: Annotated[str | None, typer.Option("--username")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Endpoint override (NCA, or a test server).")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    """Store a destination's credentials, encrypted. The secret comes from
    $TRIPLINE_REPORT_PASSWORD (or $TRIPLINE_REPORT_TOKEN for nca) or a prompt."""
    from tripline.report import CredentialStore

    if destination == "nca":
        token = os.environ.get("TRIPLINE_REPORT_TOKEN") or typer.prompt("token", hide_input=True)
        secret = {"token": token}
    else:
        password = os.environ.get("TRIPLINE_REPORT_PASSWORD") or typer.prompt("password", hide_input=True)
        secret = {"username": username or typer.prompt("username"), "password": password}
    with _ctx(home, db, key_file, vault) as (store, _v, keys, me):
        _print(
            _errors(
                lambda: CredentialStore(store.engine, keys).set(
                    destination, principal=me, environment=environment, secret=secret, base_url=base_url
                )
            )
        )


@report_app.command("build")
def report_build(
    incident: Path,
    destination: Annotated[str, typer.Option("--destination")] = "ncmec",
    out: Annotated[Path | None, typer.Option("-o", "--out")] = None,
    external: Annotated[
        bool,
        typer.Option(
            "--external",
            help="Confirmed by a human in an external review system (the operator attests): "
            "skip the check against this database's review items.",
        ),
    ] = False,
    reporter: ReporterOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    """Build and store the report of one human-confirmed incident (JSON, ConfirmedIncident fields)."""
    from tripline.report import ConfirmedIncident, CredentialStore, ReportService

    rep = _reporter(reporter)
    try:
        inc = ConfirmedIncident.from_dict(json.loads(incident.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        fail(f"cannot read incident {incident}: {exc}")
    with _ctx(home, db, key_file, vault, need_key=False) as (store, _v, _k, me):
        env = CredentialStore(store.engine, None).describe(destination).get("environment", "test")
        svc = ReportService(store.engine, rep, require_review=not external)
        sub = _errors(lambda: svc.build(inc, principal=me, destination=destination, environment=env))
        if out:
            out.write_bytes(svc.document(sub["id"], principal=me))
        _print(sub)


@report_app.command("validate")
def report_validate(
    sub_id: Annotated[int | None, typer.Argument()] = None,
    file: Annotated[Path | None, typer.Option("--file")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
):
    """Validate a stored report or an XML file against cyber_tipline.xsd."""
    from tripline.report import ReporterConfig, ReportService, schema_errors

    if file is not None:
        errors = _errors(lambda: schema_errors(file.read_bytes()))
    elif sub_id is not None:
        with _ctx(home, db, None, None, need_key=False) as (store, _v, _k, me):
            errors = _errors(
                lambda: ReportService(store.engine, ReporterConfig(email="-")).validate(sub_id, principal=me)
            )
    else:
        fail("give a report id or --file")
    _print({"valid": not errors, "errors": errors})
    raise typer.Exit(0 if not errors else 1)


@report_app.command("submit")
def report_submit(
    sub_id: int,
    max_attempts: Annotated[int, typer.Option("--max-attempts")] = 5,
    timeout: Annotated[float, typer.Option("--timeout")] = 60.0,
    backoff: Annotated[float, typer.Option("--backoff")] = 2.0,
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
    vault: VaultOpt = None,
):
    """Send a built report to its destination's configured endpoint."""
    from tripline.report import CredentialStore, ReporterConfig, ReportService, vault_files
    from tripline.report.destinations import destination_type

    with _ctx(home, db, key_file, vault) as (store, v, keys, me):
        svc = ReportService(store.engine, ReporterConfig(email="-"), vault=v)
        sub = _errors(lambda: svc.get(sub_id, principal=me))
        _env, base_url, secret = _errors(lambda: CredentialStore(store.engine, keys)._secret(sub["destination"]))
        dest = _errors(lambda: destination_type(sub["destination"]).connect(base_url, secret, timeout=timeout))
        out = _errors(
            lambda: svc.submit(
                sub_id, dest, principal=me, files=vault_files(v, me), max_attempts=max_attempts, backoff=backoff
            )
        )
        _print(out)
        raise typer.Exit(0 if out["status"] == "finished" else 1)


@report_app.command("status")
def report_status(
    sub_id: Annotated[int | None, typer.Argument()] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
):
    from tripline.report import ReporterConfig, ReportService

    with _ctx(home, db, None, None, need_key=False) as (store, _v, _k, me):
        svc = ReportService(store.engine, ReporterConfig(email="-"))
        _print(
            _errors(lambda: svc.get(sub_id, principal=me))
            if sub_id is not None
            else svc.list(principal=me, status=status)
        )


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(vault_app, name="vault")
